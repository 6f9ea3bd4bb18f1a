"""A prepared dataset as image files: `<root>/<split>/` holds one file per image and an
index.json of the files that decode and their labels, written last, so that a folder
without one is an unfinished preparation (done again) and one with it is reused."""
import json
import logging
import os
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from dvml_tf.data.images import usable_images
from dvml_tf.errors import UserError
from dvml_tf.files import write_json_atomically
from dvml_tf.terminal import CountProgress

INDEX_FILE = "index.json"

SplitFiles = Tuple[List[str], List[int]]  # image paths, labels
# What a preparation yields per image: (split, file name, label, read the bytes).
CachedImage = Tuple[str, str, int, Callable[[], bytes]]


def read_cached_splits(root: str, splits: Iterable[str]) -> Optional[Dict[str, SplitFiles]]:
    """{split: (paths, labels)} when every split's index.json exists, else None."""
    result = {}
    for split in splits:
        index_path = os.path.join(root, split, INDEX_FILE)
        if not os.path.exists(index_path):
            return None
        with open(index_path) as f:
            index = json.load(f)
        result[split] = ([os.path.join(root, split, name) for name in index["files"]],
                         index["labels"])
    return result


def write_image_cache(root: str, splits: Iterable[str], images: Iterable[CachedImage],
                      what: str, expected: Optional[int] = None) -> Dict[str, SplitFiles]:
    """Writes `images` under `root`/<split>/, checks that each decodes, then writes each
    split's index.json; returns {split: (paths, labels)}. `expected`: how many images
    the preparation lists (shown in the progress; fewer written are counted as missing)."""
    splits = tuple(splits)
    written: Dict[str, List[Tuple[str, int]]] = {split: [] for split in splits}
    try:
        for split in splits:
            os.makedirs(os.path.join(root, split), exist_ok=True)
        progress = CountProgress(f"writing the images of {what}", expected)
        for split, name, label, read in images:
            with open(os.path.join(root, split, name), "wb") as f:
                f.write(read())
            written[split].append((name, label))
            progress.advance()
        progress.done()
    except OSError as error:
        raise UserError(f"{root}: cannot write the prepared images ({error.strerror})") from None
    count = sum(len(files) for files in written.values())
    if expected is not None and count < expected:
        logging.warning("%d images that %s lists are missing from its files; skipped",
                        expected - count, what)
    result = {}
    for split in splits:
        result[split] = _checked_split(root, split, sorted(written[split]), what)
    return result


def _checked_split(root: str, split: str, files: List[Tuple[str, int]], what: str
                   ) -> SplitFiles:
    folder = os.path.join(root, split)
    paths = [os.path.join(folder, name) for name, _ in files]
    progress = CountProgress(f"checking that the images of {what}/{split} decode", len(paths))
    good = set(usable_images(paths, progress.advance))
    progress.done()
    kept = [(name, label) for (name, label), path in zip(files, paths) if path in good]
    if len(kept) < len(files):
        logging.warning("skipped %d images of %s/%s that do not decode", len(files) - len(kept),
                        what, split)
    write_json_atomically(os.path.join(folder, INDEX_FILE),
                          {"files": [name for name, _ in kept],
                           "labels": [label for _, label in kept]})
    return [os.path.join(folder, name) for name, _ in kept], [label for _, label in kept]
