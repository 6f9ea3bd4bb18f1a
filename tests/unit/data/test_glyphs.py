"""The bundled glyphs: deterministic, zero-shot, one nuisance distribution for every class,
cached once, and one-line errors when the folder or the fonts are missing."""
import os
import sys
import unicodedata

import numpy as np
import pytest
from PIL import ImageFont

from dvml_tf.data import glyphs
from dvml_tf.data.datasets import load_splits
from dvml_tf.errors import UserError

# Characters that one of CHARACTERS would be confused with: other scripts' look-alikes,
# case pairs that differ only in size, digits like letters, music signs like # and b.
LOOK_ALIKES = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТХ01lcosvwxzοριυχν♯♭∑∏∆µß"


def test_classes_are_distinct_characters_without_look_alikes():
    assert len(set(glyphs.CHARACTERS)) == len(glyphs.CHARACTERS) >= 150
    assert not set(LOOK_ALIKES) & set(glyphs.CHARACTERS)
    for character in glyphs.CHARACTERS:
        assert unicodedata.category(character)[0] in "LNSP", character


def test_generation_is_deterministic_from_its_seed():
    images, labels = glyphs.generate("AB", images_per_class=3, seed=7)
    again, _ = glyphs.generate("AB", images_per_class=3, seed=7)
    other_seed, _ = glyphs.generate("AB", images_per_class=3, seed=8)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other_seed)


def test_nuisance_draws_do_not_depend_on_the_class():
    """Two characters rendered from the same random state share their background, colours,
    clutter and noise: the pixels that neither glyph covers are identical."""
    font = ImageFont.truetype(os.path.join(glyphs.font_folder(), glyphs.FACES[0]),
                              glyphs.RENDER_SCALE * glyphs.IMAGE_SIZE)
    for seed in range(5):
        first = glyphs.render("H", font, np.random.default_rng(seed)).astype(int)
        second = glyphs.render("∞", font, np.random.default_rng(seed)).astype(int)
        same = np.all(first == second, axis=-1)
        assert same.mean() > 0.4, seed
        assert not same.all()


def test_glyphs_contrast_with_their_background():
    rng = np.random.default_rng(0)
    for _ in range(200):
        start, end, glyph = glyphs._colours(rng)
        for background in (start, end):
            assert abs(glyphs._luminance(glyph) - glyphs._luminance(background)) >= 0.4


def test_splits_are_zero_shot_halves_with_names_and_the_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(glyphs, "CHARACTERS", "ABCDEF")
    monkeypatch.setattr(glyphs, "IMAGES_PER_CLASS", 4)
    train, test = load_splits("glyphs", str(tmp_path))
    assert sorted(set(train.labels)) == [0, 1, 2] and sorted(set(test.labels)) == [3, 4, 5]
    assert len(train) == len(test) == 12
    assert test.class_name(4) == "E" and train.class_name(0) == "A"
    cached = glyphs.cache_path(str(tmp_path))
    assert os.listdir(os.path.dirname(cached)) == [os.path.basename(cached)]

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(glyphs, "generate", no_generation)
    again, _ = load_splits("glyphs", str(tmp_path))
    np.testing.assert_array_equal(again.images, train.images)


def test_default_folder_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(glyphs, "CHARACTERS", "AB")
    monkeypatch.setattr(glyphs, "IMAGES_PER_CLASS", 2)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_splits("glyphs")
    assert os.path.exists(glyphs.cache_path(str(tmp_path / "dvml_tf")))


def test_an_unwritable_folder_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(glyphs, "CHARACTERS", "AB")
    monkeypatch.setattr(glyphs, "IMAGES_PER_CLASS", 2)
    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    with pytest.raises(UserError, match=f"cannot write the generated images to {blocker}"):
        load_splits("glyphs", str(blocker))
    assert blocker.read_text() == "mine"


def test_missing_fonts_are_one_line_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(glyphs, "FACES", ("NoSuchFace.ttf",))
    with pytest.raises(UserError, match=r"NoSuchFace.ttf not found .*\(reinstall matplotlib\)"):
        load_splits("glyphs", str(tmp_path))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match="pip install matplotlib"):
        glyphs.font_folder()


def test_a_corrupt_cache_is_named_and_kept(tmp_path):
    path = glyphs.cache_path(str(tmp_path))
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"not a zip")
    with pytest.raises(UserError, match="not a readable glyphs cache"):
        load_splits("glyphs", str(tmp_path))
    assert open(path, "rb").read() == b"not a zip"
