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


def read_split_file(path):
    """{class folder name: "train" | "test"} from lines `NAME,train` or `NAME,test`."""
    roles = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as error:
        raise UserError(f"--split_file={path}: cannot read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, role = line.rpartition(",")
        if role.strip() not in ("train", "test") or not name.strip():
            raise UserError(f"--split_file={path}, line {number}: expected NAME,train or "
                            f"NAME,test, got {line.strip()!r}")
        roles[name.strip()] = role.strip()
    return roles


def load_folder_splits(root, split_file=None):
    """(train, test) ImageSplits: the first half of the sorted classes trains, unless
    `split_file` assigns each class folder to train or test."""
    classes = scan_class_folders(root)
    names = sorted(classes)
    if split_file:
        roles = read_split_file(split_file)
        missing = sorted(set(roles) - set(classes))
        if missing:
            raise UserError(f"--split_file={split_file}: no class folder with images named "
                            f"{missing[0]!r} under {root}")
        unlisted = len(names) - len(roles)
        if unlisted:
            logging.warning("%d class folders are not in the split file and are left out",
                            unlisted)
        train_names = [n for n in names if roles.get(n) == "train"]
        test_names = [n for n in names if roles.get(n) == "test"]
    else:
        cut = (len(names) + 1) // 2
        train_names, test_names = names[:cut], names[cut:]
    if len(train_names) < 2 or len(test_names) < 2:
        raise UserError(f"--data_dir={root}: {len(train_names)} training and {len(test_names)} "
                        "test classes with images; need at least 2 of each")

    def split(class_names, first_label):
        paths = [p for name in class_names for p in classes[name]]
        labels = [first_label + i for i, name in enumerate(class_names) for _ in classes[name]]
        return ImageSplit(np.array(paths), np.array(labels), PATHS)

    return split(train_names, 0), split(test_names, len(train_names))
