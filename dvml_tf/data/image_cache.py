"""A prepared dataset as image files: `<root>/<split>/` holds one file per image and an
index.json of the files that decode and their labels, written last, so that a folder
without one is an unfinished preparation (done again) and one with it is reused. The index
also records what it was prepared from (`source`): one prepared from other files is not
reused, and neither is a damaged index."""
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


def read_cached_splits(root: str, splits: Iterable[str], source: object = None
                       ) -> Optional[Dict[str, SplitFiles]]:
    """{split: (paths, labels)} when every split's index.json exists, reads whole and was
    prepared from `source` (a JSON value: what the files were), else None."""
    result = {}
    for split in splits:
        index_path = os.path.join(root, split, INDEX_FILE)
        try:
            with open(index_path) as f:
                index = json.load(f)
            files, labels = index["files"], index["labels"]
        except (OSError, ValueError, KeyError, TypeError):  # missing, cut short, hand-edited
            return None
        if index.get("source") != source or len(files) != len(labels):
            return None
        result[split] = ([os.path.join(root, split, name) for name in files], labels)
    return result


def write_image_cache(root: str, splits: Iterable[str], images: Iterable[CachedImage],
                      what: str, expected: Optional[int] = None, source: object = None,
                      complete: Optional[str] = None) -> Dict[str, SplitFiles]:
    """Writes `images` under `root`/<split>/, checks that each decodes, then writes each
    split's index.json (recording `source`); returns {split: (paths, labels)}. `expected`:
    how many images the preparation lists (shown in the progress; fewer written are counted
    as missing, or, with `complete` (where they come from), a UserError and no index)."""
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
        if complete:
            raise UserError(f"{complete}: {expected - count:,} of the {expected:,} images that "
                            f"{what} lists are missing from its files (an archive cut short, "
                            "or an extraction that did not finish?); put the complete files "
                            "there and run again")
        logging.warning("%d images that %s lists are missing from its files; skipped",
                        expected - count, what)
    result = {}
    for split in splits:
        result[split] = _checked_split(root, split, sorted(written[split]), what, source)
    return result


def _checked_split(root: str, split: str, files: List[Tuple[str, int]], what: str,
                   source: object) -> SplitFiles:
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
                           "labels": [label for _, label in kept], "source": source})
    return [os.path.join(folder, name) for name, _ in kept], [label for _, label in kept]
