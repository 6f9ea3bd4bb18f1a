"""Images in one subfolder per class: sorted class folders, first half train, rest test."""
import logging
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from dvml_tf.data.images import usable_images
from dvml_tf.data.splits import PATHS, ImageSplit
from dvml_tf.errors import UserError, flag

SHOWN_SKIPPED = 5


def _entries(folder, root_real):
    """Sorted (name, path) of a folder's entries, leaving out hidden names, names that are
    not valid UTF-8 (TensorFlow cannot open them) and links that lead outside the data
    folder; returns them and the paths left out."""
    kept, left_out = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith("."):
            continue
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            left_out.append(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            continue
        if os.path.commonpath([root_real, os.path.realpath(path)]) != root_real:
            left_out.append(path)
            continue
        kept.append((name, path))
    return kept, left_out


def scan_class_folders(root: str) -> Dict[str, List[str]]:
    """{class name: sorted image paths}; skips (and counts) files that do not decode.

    Every image is decoded here with the decoder training uses, so that a corrupt,
    truncated or misread file can never stop training in the middle of an epoch.
    Names that are not UTF-8 and links leading outside `root` are skipped and counted.
    """
    root_real = os.path.realpath(root)
    folders, left_out = {}, []
    entries, skipped_entries = _entries(root, root_real)
    left_out += skipped_entries
    for name, folder in entries:
        if os.path.isdir(folder):
            files, skipped_files = _entries(folder, root_real)
            folders[name] = [path for _, path in files]
            left_out += skipped_files
    if left_out:
        logging.warning("skipped %d files or folders whose names are not UTF-8 or that link "
                        "outside %s, e.g. %s", len(left_out), root,
                        ", ".join(left_out[:SHOWN_SKIPPED]))
    hidden = sorted(name for name in os.listdir(root)
                    if name.startswith(".") and os.path.isdir(os.path.join(root, name)))
    if hidden:
        logging.warning("skipped %d hidden class folders (names starting with '.'), e.g. %s",
                        len(hidden), ", ".join(hidden[:SHOWN_SKIPPED]))
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
        logging.warning("skipped %d files that are not images TensorFlow decodes exactly "
                        "(corrupt, truncated, 1-bit or palette BMP: convert those to PNG), "
                        "e.g. %s", len(skipped), ", ".join(skipped[:SHOWN_SKIPPED]))
    return classes


def read_split_file(path: str) -> Dict[str, str]:
    """{class folder name: "train" | "test"} from lines `NAME,train` or `NAME,test`."""
    roles = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as error:
        raise UserError(f"{flag('split_file')}={path}: cannot read ({error.strerror})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, role = line.rpartition(",")
        if role.strip() not in ("train", "test") or not name.strip():
            raise UserError(f"{flag('split_file')}={path}, line {number}: expected NAME,train or "
                            f"NAME,test, got {line.strip()!r}")
        roles[name.strip()] = role.strip()
    return roles


def load_folder_splits(root: str, split_file: Optional[str] = None
                       ) -> Tuple[ImageSplit, ImageSplit]:
    """(train, test) ImageSplits: the first half of the sorted classes trains, unless
    `split_file` assigns each class folder to train or test."""
    classes = scan_class_folders(root)
    names = sorted(classes)
    if split_file:
        roles = read_split_file(split_file)
        missing = sorted(set(roles) - set(classes))
        if missing:
            raise UserError(f"{flag('split_file')}={split_file}: no class folder with images named "
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
        raise UserError(f"{flag('data_dir')}={root}: {len(train_names)} training and "
                        f"{len(test_names)} test classes with images; need at least 2 of each")

    def split(class_names, first_label):
        paths = [p for name in class_names for p in classes[name]]
        labels = [first_label + i for i, name in enumerate(class_names) for _ in classes[name]]
        names = {first_label + i: name for i, name in enumerate(class_names)}
        return ImageSplit(np.array(paths), np.array(labels), PATHS, names)

    return split(train_names, 0), split(test_names, len(train_names))
