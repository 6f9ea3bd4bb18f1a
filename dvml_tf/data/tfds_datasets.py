"""CUB-200-2011, Cars196 and Stanford Online Products through tensorflow-datasets,
re-split by class as the zero-shot protocol requires (DVML.md)."""
import numpy as np
import tensorflow_datasets as tfds

from dvml_tf.data.splits import ENCODED, ImageSplit
from dvml_tf.errors import UserError

TFDS_NAMES = {"cub": "caltech_birds2011", "cars": "cars196", "sop": "stanford_online_products"}
# Labels below this number train (0-based TFDS labels): CUB classes 1-100, Cars 1-98.
FIRST_TEST_LABEL = {"cub": 100, "cars": 98}


def _read(builder, split, label_key):
    """All (encoded image bytes, label) of a split, images left undecoded."""
    dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    images, labels = [], []
    for example in dataset.map(lambda e: (e["image"], e[label_key])).batch(1024):
        images.extend(example[0].numpy())
        labels.extend(example[1].numpy())
    return np.array(images, dtype=object), np.array(labels, dtype=np.int64)


def load_tfds_splits(dataset, data_dir=None):
    """(train, test) ImageSplits of encoded images with class-disjoint labels."""
    builder = tfds.builder(TFDS_NAMES[dataset], data_dir=data_dir)
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except Exception as error:  # tfds raises many types for failed downloads
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            raise UserError(f"--dataset={dataset}: TFDS could not prepare {builder.name} in "
                            f"{builder.data_dir} ({first_line[:200]}); see BUILD.md") from None
    if dataset == "sop":
        train = _read(builder, "train", "class_id")
        test = _read(builder, "test", "class_id")
        return ImageSplit(*train, ENCODED), ImageSplit(*test, ENCODED)
    # TFDS splits CUB and Cars196 per image; the protocol merges both and splits by class.
    parts = [_read(builder, split, "label") for split in ("train", "test")]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    is_train = labels < FIRST_TEST_LABEL[dataset]
    return (ImageSplit(images[is_train], labels[is_train], ENCODED),
            ImageSplit(images[~is_train], labels[~is_train], ENCODED))
