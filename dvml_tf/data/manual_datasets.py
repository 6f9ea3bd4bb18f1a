"""CUB-200-2011, Cars196 and SOP from the upstream files a user obtained (when the
authors' hosts are gone): no network, no TFDS. Put the files (archives, or the folders
they extract to) in one folder and pass it as --data_dir; BUILD.md says where to get them.

Labels are TFDS's (the upstream class number minus 1), and the protocol's class split is
the one tfds_datasets.py applies, so either route gives the same splits. The images are
copied once into `<data_dir>/dvml_tf_images/<tfds name>/upstream/<split>/`, each checked
to decode; the user's files are only read.
"""
import io
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from dvml_tf.data import upstream_files
from dvml_tf.data.image_cache import SplitFiles, read_cached_splits, write_image_cache
from dvml_tf.errors import UserError, flag, require_extra

# Per dataset: (archive, the folder it extracts to) of each upstream file.
UPSTREAM_FILES = {
    "cub": [("CUB_200_2011.tgz", "CUB_200_2011")],
    "cars": [("cars_train.tgz", "cars_train"), ("cars_test.tgz", "cars_test"),
             ("car_devkit.tgz", "devkit"),
             ("cars_test_annos_withlabels.mat", "cars_test_annos_withlabels.mat")],
    "sop": [("Stanford_Online_Products.zip", "Stanford_Online_Products")],
}
# Labels below this number train (0-based): CUB classes 1-100, Cars196 1-98.
FIRST_TEST_LABEL = {"cub": 100, "cars": 98}

Listing = Dict[str, Tuple[str, int]]  # member name -> (split, label)


def find_upstream_files(dataset: str, folder: Optional[str]) -> Optional[List[str]]:
    """The paths of `dataset`'s upstream files in `folder`, or None when it holds none of
    them; UserError naming what is missing when it holds some."""
    if not folder or not os.path.isdir(folder):
        return None
    found = [upstream_files.find_source(folder, *names) for names in UPSTREAM_FILES[dataset]]
    if not any(found):
        return None
    missing = [archive for (archive, _), path in zip(UPSTREAM_FILES[dataset], found) if not path]
    if missing:
        raise UserError(f"{flag('data_dir')}={folder} holds some of "
                        f"{flag('dataset')}={dataset}'s upstream files but not "
                        f"{', '.join(missing)} (or the folders they extract to)")
    return found


def _protocol_split(dataset: str, label: int) -> str:
    return "train" if label < FIRST_TEST_LABEL[dataset] else "test"


def _lines(archive: str, member: str) -> List[Tuple[str, str]]:
    """(where, line) of each non-empty line of a listing, `where` naming file and line."""
    data = upstream_files.read_member(archive, member)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise UserError(f"{archive}: {member} is not UTF-8 text; not the dataset's own "
                        "listing") from None
    return [(f"{archive}: {member} line {number}", line)
            for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _malformed(where: str, line: str, expected: str) -> UserError:
    return UserError(f"{where} reads {line.strip()[:80]!r}, not {expected}; not the "
                     "dataset's own listing")


def _cub_listing(archive: str) -> Listing:
    """CUB_200_2011/images.txt: '<id> 001.Black_footed_Albatross/<name>.jpg'."""
    listing = {}
    for where, line in _lines(archive, "CUB_200_2011/images.txt"):
        try:
            relative = line.split()[1]
            label = int(relative.split(".", 1)[0]) - 1
        except (IndexError, ValueError):
            raise _malformed(where, line, "'<id> <class number>.<name>/<file>'") from None
        listing[f"CUB_200_2011/images/{relative}"] = (_protocol_split("cub", label), label)
    return listing


def _cars_annotations(mat_bytes: bytes, source: str) -> Dict[str, int]:
    """{image file name: 0-based label} of a Cars196 annotation .mat file."""
    require_extra("scipy", f"{flag('dataset')}=cars (reading its .mat annotations)")
    import scipy.io

    try:
        records = scipy.io.loadmat(io.BytesIO(mat_bytes))["annotations"][0]
        return {str(np.asarray(r["fname"]).item()): int(np.asarray(r["class"]).item()) - 1
                for r in records}
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise UserError(f"{source}: not Cars196's annotations ({error})") from None


def _cars_listing(train: str, test: str, devkit: str, test_annotations: str) -> Listing:
    listing = {}
    for folder, mat, source in (
            ("cars_train", upstream_files.read_member(devkit, "devkit/cars_train_annos.mat"),
             devkit),
            ("cars_test", upstream_files.read_member(test_annotations, ".mat"),
             test_annotations)):
        for name, label in _cars_annotations(mat, source).items():
            listing[f"{folder}/{name}"] = (_protocol_split("cars", label), label)
    return listing


def _sop_listing(archive: str) -> Listing:
    """Ebay_train.txt / Ebay_test.txt: 'image_id class_id super_class_id path'."""
    listing = {}
    for split in ("train", "test"):
        lines = _lines(archive, f"Stanford_Online_Products/Ebay_{split}.txt")
        for where, line in lines[1:]:
            try:
                _, class_id, _, path = line.split()
                label = int(class_id) - 1
            except ValueError:
                raise _malformed(where, line, "'image_id class_id super_class_id path'"
                                 ) from None
            listing[f"Stanford_Online_Products/{path}"] = (split, label)
    return listing


def _listing_and_image_sources(dataset: str, paths: List[str]) -> Tuple[Listing, List[str]]:
    if dataset == "cub":
        return _cub_listing(paths[0]), paths
    if dataset == "cars":
        return _cars_listing(*paths), paths[:2]
    return _sop_listing(paths[0]), paths


def _source_record(paths: List[str]) -> List[List[object]]:
    """What the upstream files are: each path with its size and modification time."""
    record = []
    for path in paths:
        status = os.stat(path)
        record.append([os.path.abspath(path), status.st_size, status.st_mtime_ns])
    return record


def load_upstream_splits(dataset: str, name: str, paths: List[str], cache_root: str
                         ) -> Dict[str, SplitFiles]:
    """{"train", "test": (image paths, labels)} of the upstream files at `paths`, copied on
    first use into `cache_root`/<split>/ and reused while the files stay the same; an image
    the annotations list but the files lack is an error (the paper's datasets are fixed)."""
    splits = ("train", "test")
    source = _source_record(paths)
    cached = read_cached_splits(cache_root, splits, source)
    if cached:
        return cached
    listing, image_sources = _listing_and_image_sources(dataset, paths)

    def images():
        for source in image_sources:
            for member, read in upstream_files.members(source):
                if member in listing:
                    split, label = listing[member]
                    yield split, member.replace("/", "__"), label, read

    return write_image_cache(cache_root, splits, images(), f"{name} (your upstream files)",
                             expected=len(listing), source=source,
                             complete=f"{flag('data_dir')}={os.path.dirname(paths[0])}")
