"""CUB-200-2011, Cars196 and Stanford Online Products, re-split by class as the zero-shot
protocol requires (Song et al. 2016, as the paper uses it): the first half of CUB's and
Cars196's classes trains and the rest tests; SOP keeps its Ebay_train / Ebay_test.

Two routes to the same splits: a --data_dir holding the upstream files a user obtained is
read by manual_datasets.py (no network); otherwise tensorflow-datasets downloads and
prepares, after a quick check that the upstream hosts answer. Either way each split is
written once as image files (image_cache.py) under `<data_dir>/dvml_tf_images/`, which
training streams; with keep_downloads=False what TFDS downloaded and prepared is removed
once those files are complete.
"""
import contextlib
import glob
import logging
import os
import shutil
import time
from typing import Dict, Iterator, Optional, Tuple

import numpy as np

from dvml_tf.data import upstream_hosts
from dvml_tf.data.image_cache import SplitFiles, read_cached_splits, write_image_cache
from dvml_tf.data.manual_datasets import (
    FIRST_TEST_LABEL,
    UPSTREAM_FILES,
    find_upstream_files,
    load_upstream_splits,
)
from dvml_tf.data.splits import PATHS, ImageSplit
from dvml_tf.data.tfds_progress import tfds_progress_in_our_line
from dvml_tf.errors import UserError, first_line, flag, require_extra

TFDS_NAMES = {"cub": "caltech_birds2011", "cars": "cars196", "sop": "stanford_online_products"}
LABEL_KEYS = {"cub": "label", "cars": "label", "sop": "class_id"}
CACHE_FOLDER = "dvml_tf_images"
DOWNLOADS_FOLDER = "downloads"
SPLITS = ("train", "test")
# What TFDS's builders import to prepare the data: CUB's masks (OpenCV), Cars196's .mat
# annotations (SciPy); the [datasets] extra installs them.
BUILDER_IMPORTS = {"cub": ("cv2",), "cars": ("scipy",)}
MANUAL_ROUTE = "BUILD.md, 'The paper's datasets, and without their hosts'"


def _split(paths, labels) -> ImageSplit:
    return ImageSplit(np.array(paths), np.array(labels, dtype=np.int64), PATHS)


def _by_class(dataset: str, splits: Dict[str, SplitFiles]) -> Tuple[ImageSplit, ImageSplit]:
    """SOP's splits as they are; CUB's and Cars196's merged, then split by class."""
    if dataset == "sop":
        return _split(*splits["train"]), _split(*splits["test"])
    paths = np.array(splits["train"][0] + splits["test"][0])
    labels = np.array(splits["train"][1] + splits["test"][1])
    is_train = labels < FIRST_TEST_LABEL[dataset]
    return _split(paths[is_train], labels[is_train]), _split(paths[~is_train], labels[~is_train])


@contextlib.contextmanager
def _nothing_left_on_failure(root: str, name: str) -> Iterator[None]:
    """A failed preparation removes the folders it created and TFDS's unfinished ones;
    nothing that was there before."""
    downloads = os.path.join(root, DOWNLOADS_FOLDER)
    candidates = [root, os.path.join(root, name), downloads, os.path.join(downloads, name)]
    new = [path for path in candidates if not os.path.exists(path)]
    try:
        yield
    except BaseException:
        for path in glob.glob(os.path.join(root, name, "*incomplete*")) + new[::-1]:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _prepare_with_tfds(dataset: str, builder, root: str) -> None:
    for module in BUILDER_IMPORTS.get(dataset, ()):
        require_extra(module, f"{flag('dataset')}={dataset} (preparing TFDS's {builder.name})")
    unreachable = upstream_hosts.first_unreachable(dataset)
    if unreachable:
        url, reason = unreachable
        files = ", ".join(archive for archive, _ in UPSTREAM_FILES[dataset])
        raise UserError(f"{flag('dataset')}={dataset}: cannot download {url} ({reason}); get "
                        f"{files} elsewhere into one folder and pass it as {flag('data_dir')} "
                        f"({MANUAL_ROUTE})")
    logging.info("TFDS downloads and prepares %s %s into %s (at full size: minutes to hours)",
                 builder.name, builder.version, builder.data_dir)
    started = time.monotonic()
    with _nothing_left_on_failure(root, builder.name), tfds_progress_in_our_line():
        try:
            builder.download_and_prepare(
                download_dir=os.path.join(root, DOWNLOADS_FOLDER, builder.name))
        except Exception as error:  # tfds raises many types for failed downloads
            raise UserError(f"{flag('dataset')}={dataset}: TFDS could not prepare "
                            f"{builder.name} in {builder.data_dir} ({first_line(error)}); "
                            f"see {MANUAL_ROUTE}") from None
    logging.info("TFDS prepared %s (%.0f s)", builder.name, time.monotonic() - started)


def _tfds_images(builder, label_key: str):
    import tensorflow_datasets as tfds

    for split in SPLITS:
        dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
        for number, (image, label) in enumerate(dataset.map(lambda e: (e["image"], e[label_key]))):
            data = image.numpy()
            yield split, f"{number:07d}.img", int(label), lambda data=data: data


def _listed_examples(builder) -> Optional[int]:
    """How many examples TFDS's records list (None where it has no split information)."""
    try:
        return sum(builder.info.splits[split].num_examples for split in SPLITS)
    except KeyError:
        return None


def _drop_downloads(builder, root: str) -> None:
    """What TFDS downloaded and the records it prepared: not needed once the image files
    are complete (keep_downloads=False)."""
    for path in (os.path.join(root, DOWNLOADS_FOLDER, builder.name), builder.data_dir):
        if os.path.isdir(path):
            shutil.rmtree(path)


def load_tfds_splits(dataset: str, data_dir: Optional[str] = None, keep_downloads: bool = True
                     ) -> Tuple[ImageSplit, ImageSplit]:
    """(train, test) ImageSplits of image files with class-disjoint labels."""
    import tensorflow_datasets as tfds

    name = TFDS_NAMES[dataset]
    root = os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)
    upstream = find_upstream_files(dataset, data_dir)
    if upstream:
        cache = os.path.join(root, CACHE_FOLDER, name, "upstream")
        upstream_splits = load_upstream_splits(dataset, name, upstream, cache)
        return _split(*upstream_splits["train"]), _split(*upstream_splits["test"])
    builder = tfds.builder(name, data_dir=data_dir)
    cache = os.path.join(root, CACHE_FOLDER, name, str(builder.version))
    splits = read_cached_splits(cache, SPLITS)
    if splits is None:
        if not builder.is_prepared():
            _prepare_with_tfds(dataset, builder, root)
        splits = write_image_cache(cache, SPLITS, _tfds_images(builder, LABEL_KEYS[dataset]),
                                   f"{name} {builder.version}", _listed_examples(builder))
    if not keep_downloads:
        _drop_downloads(builder, root)
    return _by_class(dataset, splits)
