"""CUB-200-2011, Cars196 and Stanford Online Products through tensorflow-datasets,
re-split by class as the zero-shot protocol requires (Song et al. 2016, as the paper uses
it): the first half of CUB's and Cars196's classes trains and the rest tests; SOP keeps
its Ebay_train / Ebay_test.

On first use each TFDS split is streamed once into image files under the TFDS data
directory (`<data_dir>/dvml_tf_images/<name>/<version>/<split>/`), each image checked to
decode; training then streams those files, so no dataset is held in memory and a
corrupt record is skipped and counted instead of stopping an epoch.
"""
import json
import logging
import os
from typing import Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds

from dvml_tf.data.images import usable_images
from dvml_tf.data.splits import PATHS, ImageSplit
from dvml_tf.errors import UserError, first_line, require_extra
from dvml_tf.files import write_json_atomically

TFDS_NAMES = {"cub": "caltech_birds2011", "cars": "cars196", "sop": "stanford_online_products"}
LABEL_KEYS = {"cub": "label", "cars": "label", "sop": "class_id"}
# Labels below this number train (0-based TFDS labels): CUB classes 1-100, Cars 1-98.
FIRST_TEST_LABEL = {"cub": 100, "cars": 98}
CACHE_FOLDER = "dvml_tf_images"
INDEX_FILE = "index.json"


def _export_split(builder, data_dir, split, label_key):
    """(image paths, labels) of a TFDS split, written to files on first use."""
    folder = os.path.join(data_dir, CACHE_FOLDER, builder.name, str(builder.version), split)
    index_path = os.path.join(folder, INDEX_FILE)
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        return [os.path.join(folder, name) for name in index["files"]], index["labels"]
    os.makedirs(folder, exist_ok=True)
    logging.info("writing the images of %s/%s to %s (once)", builder.name, split, folder)
    dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    names, labels = [], []
    for number, example in enumerate(dataset.map(lambda e: (e["image"], e[label_key]))):
        name = f"{number:07d}.img"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(example[0].numpy())
        names.append(name)
        labels.append(int(example[1]))
    good = set(usable_images([os.path.join(folder, n) for n in names]))
    kept = [i for i, n in enumerate(names) if os.path.join(folder, n) in good]
    if len(kept) < len(names):
        logging.warning("skipped %d images of %s/%s that do not decode", len(names) - len(kept),
                        builder.name, split)
    index = {"files": [names[i] for i in kept], "labels": [labels[i] for i in kept]}
    write_json_atomically(index_path, index)  # the index appears only when complete
    return [os.path.join(folder, n) for n in index["files"]], index["labels"]


# What TFDS's builders import to prepare the data: CUB's masks (OpenCV), Cars196's .mat
# annotations (SciPy); the [datasets] extra installs them.
BUILDER_IMPORTS = {"cub": ("cv2",), "cars": ("scipy",)}


def _split(paths, labels):
    return ImageSplit(np.array(paths), np.array(labels, dtype=np.int64), PATHS)


def load_tfds_splits(dataset: str, data_dir: Optional[str] = None
                     ) -> Tuple[ImageSplit, ImageSplit]:
    """(train, test) ImageSplits of image files with class-disjoint labels."""
    builder = tfds.builder(TFDS_NAMES[dataset], data_dir=data_dir)
    if not builder.is_prepared():
        for module in BUILDER_IMPORTS.get(dataset, ()):
            require_extra(module, f"--dataset={dataset} (preparing TFDS's {builder.name})")
        try:
            builder.download_and_prepare()
        except Exception as error:  # tfds raises many types for failed downloads
            raise UserError(f"--dataset={dataset}: TFDS could not prepare {builder.name} in "
                            f"{builder.data_dir} ({first_line(error)}); see BUILD.md") from None
    label_key = LABEL_KEYS[dataset]
    root = os.path.expanduser(data_dir or tfds.core.constants.DATA_DIR)
    if dataset == "sop":
        return (_split(*_export_split(builder, root, "train", label_key)),
                _split(*_export_split(builder, root, "test", label_key)))
    # TFDS splits CUB and Cars196 per image; the protocol merges both and splits by class.
    paths, labels = [], []
    for split in ("train", "test"):
        split_paths, split_labels = _export_split(builder, root, split, label_key)
        paths += split_paths
        labels += split_labels
    paths, labels = np.array(paths), np.array(labels)
    is_train = labels < FIRST_TEST_LABEL[dataset]
    return _split(paths[is_train], labels[is_train]), _split(paths[~is_train], labels[~is_train])
