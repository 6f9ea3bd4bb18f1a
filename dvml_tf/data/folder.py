"""Images in one subfolder per class: sorted class folders, first half train, rest test."""
import concurrent.futures
import logging
import os

import numpy as np
from PIL import Image

from dvml_tf.data.splits import PATHS, ImageSplit
from dvml_tf.errors import UserError

IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
SHOWN_SKIPPED = 5


def looks_like_image(path):
    """True when the file starts like a JPEG, PNG, GIF or BMP."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return any(head.startswith(signature) for signature in IMAGE_SIGNATURES)


def decodes(path):
    """True when the file is an image that decodes completely (truncated files do not)."""
    if not looks_like_image(path):
        return False
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def usable_images(paths):
    """The paths that decode, checked in parallel threads (the decoders release the GIL)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        return [path for path, ok in zip(paths, pool.map(decodes, paths, chunksize=64)) if ok]


def scan_class_folders(root):
    """{class name: sorted image paths}; skips (and counts) files that do not decode.

    Every image is decoded once here, so that a corrupt or truncated file can never
    stop training in the middle of an epoch.
    """
    folders = {}
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            folders[name] = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                                   if not f.startswith("."))
    good = set(usable_images([p for paths in folders.values() for p in paths]))
    classes, skipped = {}, []
    for name, paths in folders.items():
        kept = [p for p in paths if p in good]
        skipped.extend(p for p in paths if p not in good)
        if kept:
            classes[name] = kept
        else:
            logging.warning("ignoring empty class folder %s", os.path.join(root, name))
    if skipped:
        logging.warning("skipped %d files that are not decodable images, e.g. %s", len(skipped),
                        ", ".join(skipped[:SHOWN_SKIPPED]))
    return classes


def load_folder_splits(root):
    """(train, test) ImageSplits: the first half of the sorted classes trains."""
    classes = scan_class_folders(root)
    if len(classes) < 4:
        raise UserError(f"--data_dir={root}: found {len(classes)} class folders with images; "
                        "need at least 4 (2 to train, 2 to test)")
    names = sorted(classes)
    cut = (len(names) + 1) // 2

    def split(class_names, first_label):
        paths = [p for name in class_names for p in classes[name]]
        labels = [first_label + i for i, name in enumerate(class_names) for _ in classes[name]]
        return ImageSplit(np.array(paths), np.array(labels), PATHS)

    return split(names[:cut], 0), split(names[cut:], cut)
