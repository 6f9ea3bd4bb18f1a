"""Glyphs: characters rendered with the DejaVu fonts that ship with matplotlib, under one
nuisance distribution shared by every class (the paper's premise made true by
construction). Generated once, deterministically, and cached under the data folder.

Each class is one character (Latin, Greek, Cyrillic, digits, symbols). Look-alikes across
scripts and cases are left out: no Greek Alpha or Cyrillic A beside Latin A, no 0 beside
O, no lower-case c, o, s, v, w, x, z beside their capitals, no music sharp or flat
beside # and b. Every image draws, independently
of its class: one of 12 DejaVu faces (Sans, Sans Mono, Serif; regular, bold, oblique, bold
oblique), a size, a rotation, a position, a background gradient, a glyph colour at least
MIN_CONTRAST away from the background's luminance, faint clutter lines and pixel noise.
The first half of the classes train, the second half test (zero-shot).
"""
import os
import zipfile
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dvml_tf.cache import cache_dir
from dvml_tf.data.splits import ARRAY, ImageSplit
from dvml_tf.errors import UserError, first_line, flag

CHARACTERS = (
    "23456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abdefghijkmnpqrtuy"
    "ΓΔΘΛΞΠΣΦΨΩ"
    "αβγδεζηθλμξπστφψω"
    "БДЖИЙЦЧШЩЪЫЬЭЮЯ"
    "#$%&@?!+=<>*/^~§¶©®€£¥¢∞≈≠±÷√∫♠♣♥♦♪☺→←↑↓⊕⊗∀∃¬¤æœŁ"
    "∇≤≥⊥∠☼♫♂♀⌘№⌂Þħ●■□▲◆◇⊙"
)
FACES = tuple(f"DejaVu{family}{style}.ttf" for family, styles in (
    ("Sans", ("", "-Bold", "-Oblique", "-BoldOblique")),
    ("SansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
    ("Serif", ("", "-Bold", "-Italic", "-BoldItalic"))) for style in styles)
IMAGE_SIZE = 32
IMAGES_PER_CLASS = 40
SEED = 0
# Bump when the characters or the rendering change: the cache file's name carries it.
VERSION = 1
RENDER_SCALE = 3  # drawn at 3x, then downsampled: anti-aliased strokes
# The nuisance distribution, one for every class.
GLYPH_EXTENT = (0.55, 0.85)  # the glyph's longer side, as a share of the image
MAX_ROTATION_DEGREES = 15
MAX_SHIFT = 0.12  # of the image size
MIN_CONTRAST = 0.4  # |luminance(glyph) - luminance(background)|, in [0, 1]
CLUTTER_LINES = (1, 4)
CLUTTER_CONTRAST = 0.15
PIXEL_NOISE = 0.03


def font_folder() -> str:
    """matplotlib's bundled TrueType folder; UserError when matplotlib or a face is missing."""
    try:
        import matplotlib
    except ImportError:
        raise UserError(f"{flag('dataset')}=glyphs renders the DejaVu fonts bundled with "
                        "matplotlib, which is not installed: pip install matplotlib") from None
    folder = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    missing = [face for face in FACES if not os.path.isfile(os.path.join(folder, face))]
    if missing:
        raise UserError(f"{flag('dataset')}=glyphs: font {missing[0]} not found in {folder} "
                        "(reinstall matplotlib)")
    return folder


def _luminance(rgb: np.ndarray) -> float:
    return float(np.dot(rgb, [0.299, 0.587, 0.114]))


def _colours(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(background start, background end, glyph) RGB in [0, 1], the glyph at least
    MIN_CONTRAST from both ends of the background in luminance."""
    while True:
        start = rng.uniform(0, 1, 3)
        end = np.clip(start + rng.uniform(-0.15, 0.15, 3), 0, 1)
        glyph = rng.uniform(0, 1, 3)
        if min(abs(_luminance(glyph) - _luminance(b)) for b in (start, end)) >= MIN_CONTRAST:
            return start, end, glyph


def _glyph_mask(character: str, font, rng: np.random.Generator) -> np.ndarray:
    """The character's coverage [0, 1] on a canvas RENDER_SCALE x IMAGE_SIZE wide: drawn,
    rotated, scaled to its drawn extent and shifted."""
    canvas = RENDER_SCALE * IMAGE_SIZE
    left, top, right, bottom = font.getbbox(character)
    drawn = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(drawn).text((4 - left, 4 - top), character, fill=255, font=font)
    drawn = drawn.rotate(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES),
                         resample=Image.BICUBIC, expand=True)
    drawn = drawn.crop(drawn.getbbox() or (0, 0, 1, 1))
    extent = rng.uniform(*GLYPH_EXTENT) * canvas
    scale = extent / max(drawn.size)
    width, height = (max(1, round(side * scale)) for side in drawn.size)
    drawn = drawn.resize((width, height), Image.LANCZOS)
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * canvas
    x = int(np.clip((canvas - width) / 2 + shift[0], 0, canvas - width))
    y = int(np.clip((canvas - height) / 2 + shift[1], 0, canvas - height))
    mask = Image.new("L", (canvas, canvas), 0)
    mask.paste(drawn, (x, y))
    return np.asarray(mask, np.float32) / 255.0


def _clutter(rng: np.random.Generator) -> np.ndarray:
    """Coverage [0, 1] of a few thin random lines across the canvas."""
    canvas = RENDER_SCALE * IMAGE_SIZE
    image = Image.new("L", (canvas, canvas), 0)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(CLUTTER_LINES[0], CLUTTER_LINES[1] + 1)):
        ends = rng.uniform(0, canvas, 4)
        draw.line(tuple(ends), fill=255, width=int(rng.integers(1, 2 * RENDER_SCALE)))
    return np.asarray(image, np.float32) / 255.0


def render(character: str, font, rng: np.random.Generator) -> np.ndarray:
    """One uint8 RGB image [IMAGE_SIZE, IMAGE_SIZE, 3] of `character` in `font`."""
    canvas = RENDER_SCALE * IMAGE_SIZE
    start, end, glyph = _colours(rng)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * np.linspace(0, 1, canvas)[None, :] + \
        np.sin(angle) * np.linspace(0, 1, canvas)[:, None]
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    background = start + ramp[..., None] * (end - start)
    clutter_colour = background.mean((0, 1)) + rng.choice([-1, 1]) * CLUTTER_CONTRAST
    background += _clutter(rng)[..., None] * (np.clip(clutter_colour, 0, 1) - background)
    mask = _glyph_mask(character, font, rng)[..., None]
    pixels = background + mask * (glyph - background)
    small = Image.fromarray(np.uint8(np.clip(pixels, 0, 1) * 255 + 0.5)).resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
    noisy = np.asarray(small, np.float32) / 255 + rng.normal(0, PIXEL_NOISE, (IMAGE_SIZE,
                                                                                IMAGE_SIZE, 3))
    return np.uint8(np.clip(noisy, 0, 1) * 255 + 0.5)


def generate(characters: Optional[str] = None, images_per_class: Optional[int] = None,
             seed: int = SEED) -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 [C * n, 32, 32, 3], labels int64): class c is characters[c]
    (default CHARACTERS, IMAGES_PER_CLASS each), drawn by a generator of its own,
    seeded (seed, c)."""
    characters = characters or CHARACTERS
    images_per_class = images_per_class or IMAGES_PER_CLASS
    folder = font_folder()
    size = RENDER_SCALE * IMAGE_SIZE
    fonts = [ImageFont.truetype(os.path.join(folder, face), size) for face in FACES]
    images, labels = [], []
    for label, character in enumerate(characters):
        rng = np.random.default_rng([seed, label])
        for _ in range(images_per_class):
            images.append(render(character, fonts[rng.integers(len(fonts))], rng))
            labels.append(label)
    return np.stack(images), np.array(labels, np.int64)


def cache_path(data_dir: str) -> str:
    return os.path.join(data_dir, "glyphs",
                        f"glyphs_v{VERSION}_seed{SEED}_{IMAGE_SIZE}px_{IMAGES_PER_CLASS}.npz")


def _write_cache(path: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes the cache atomically: a temporary file in the same folder, then a rename."""
    folder = os.path.dirname(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, exist_ok=True)
        with open(temporary, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels)
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise UserError(f"{flag('dataset')}=glyphs: cannot write the generated images to {folder} "
                        f"({first_line(error)}); pass a writable {flag('data_dir')}") from None


def _read_cache(path: str) -> Tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as cached:
            return cached["images"], cached["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise UserError(f"{path}: not a readable glyphs cache ({first_line(error)}); move "
                        "it away and run again to regenerate it") from None


def load_glyphs_splits(data_dir: Optional[str] = None) -> Tuple[ImageSplit, ImageSplit]:
    """(train, test) ImageSplits: the first half of CHARACTERS trains, the rest test.
    Generates and caches the images on first use (a few seconds)."""
    path = cache_path(data_dir or cache_dir())
    if os.path.exists(path):
        images, labels = _read_cache(path)
    else:
        images, labels = generate()
        _write_cache(path, images, labels)
    train = labels < len(CHARACTERS) // 2
    names = dict(enumerate(CHARACTERS))
    return (ImageSplit(images[train], labels[train], ARRAY, names),
            ImageSplit(images[~train], labels[~train], ARRAY, names))
