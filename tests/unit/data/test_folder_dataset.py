"""The image-folder dataset: class split, skipped non-images, empty folders, the Cars196 copy."""
import os

import numpy as np
import pytest
from commands import ROOT
from PIL import Image

from dvml_tf.data.folder import load_folder_splits
from dvml_tf.errors import UserError

CARS196 = os.path.join(ROOT, "..", "shared", "data", "cars196")


def _write_classes(root, counts):
    for index, count in enumerate(counts):
        folder = root / f"class_{index:02d}"
        folder.mkdir()
        for i in range(count):
            Image.fromarray(np.full((9, 7, 3), 10 * i, np.uint8)).save(folder / f"{i}.png")


def test_sorted_classes_split_in_half_skipping_bad_files(tmp_path, caplog):
    _write_classes(tmp_path, [3, 2, 4, 2, 5])
    (tmp_path / "class_01" / "notes.txt").write_text("not an image")
    (tmp_path / "class_03" / "broken.jpg").write_bytes(b"\x00\x01garbage")
    png = (tmp_path / "class_04" / "0.png").read_bytes()
    (tmp_path / "class_04" / "truncated.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "zz_empty").mkdir()
    train, test = load_folder_splits(str(tmp_path))
    assert len(train) == 3 + 2 + 4 and len(test) == 2 + 5
    assert set(train.labels) == {0, 1, 2} and set(test.labels) == {3, 4}
    assert not any(p.endswith(("notes.txt", "broken.jpg", "truncated.png"))
                   for p in np.concatenate([train.images, test.images]))
    assert "skipped 3 files" in caplog.text and "zz_empty" in caplog.text


def test_a_hidden_class_folder_is_left_out_and_counted(tmp_path, caplog):
    _write_classes(tmp_path, [2, 2, 2, 2, 2])
    (tmp_path / "class_04").rename(tmp_path / ".class_04")
    (tmp_path / ".DS_Store").write_bytes(b"")  # a hidden file is no class: not counted
    train, test = load_folder_splits(str(tmp_path))
    assert train.num_classes + test.num_classes == 4
    assert "skipped 1 hidden class folders (names starting with '.'), e.g. .class_04" \
        in caplog.text


def test_too_few_classes_is_a_user_error(tmp_path):
    _write_classes(tmp_path, [2, 2, 2])
    with pytest.raises(UserError, match="2 training and 1 test classes"):
        load_folder_splits(str(tmp_path))


def test_split_file_assigns_classes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    _write_classes(images, [2, 3, 4, 5, 6])
    split_file = tmp_path / "split.csv"
    split_file.write_text("# class,role\nclass_04,train\nclass_00,train\n"
                          "class_02,test\nclass_03,test\n")
    train, test = load_folder_splits(str(images), str(split_file))
    assert sorted(np.bincount(train.labels).tolist()) == [2, 6]  # class_00, class_04
    assert len(test) == 4 + 5 and set(test.labels) == {2, 3}
    split_file.write_text("class_00,train\nclass_09,test\n")
    with pytest.raises(UserError, match="no class folder with images named 'class_09'"):
        load_folder_splits(str(images), str(split_file))
    split_file.write_text("class_00,validation\n")
    with pytest.raises(UserError, match="line 1: expected NAME,train or NAME,test"):
        load_folder_splits(str(images), str(split_file))


@pytest.mark.skipif(not os.path.isdir(CARS196), reason="../shared/data/cars196 is absent")
def test_cars196_copy_gives_the_papers_split():
    train, test = load_folder_splits(CARS196)
    assert (len(train), train.num_classes) == (8054, 98)
    assert (len(test), test.num_classes) == (8131, 98)


def test_a_fifo_among_the_images_is_skipped_and_counted_not_waited_on(tmp_path):
    """Opening a FIFO waits for a writer for ever; the scan and the embedder's reader look
    at what a path is before opening it (in a child process, so a regression fails on its
    timeout instead of hanging the suite)."""
    import subprocess
    import sys

    _write_classes(tmp_path, [2, 2, 2, 2])
    os.mkfifo(tmp_path / "class_00" / "pipe.jpg")
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from dvml_tf.data.folder import load_folder_splits\n"
        "from dvml_tf.files import read_file\n"
        f"train, test = load_folder_splits({str(tmp_path)!r})\n"
        "print(len(train), len(test))\n"
        f"try:\n    read_file({str(tmp_path / 'class_00' / 'pipe.jpg')!r})\n"
        "except OSError as error:\n    print(error.strerror)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.split("\n")[:2] == ["4 4", "not a regular file"], done.stderr
    assert "skipped 1 files" in done.stderr
