"""tf.data pipelines: class-balanced training batches and ordered evaluation batches."""
import os
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from dvml_tf.data import preprocessing, sampling
from dvml_tf.data.images import check_pixels
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.data.sampling import ClassTable
from dvml_tf.data.splits import ARRAY, PATHS, ImageSplit


def train_dataset(split: ImageSplit, table: ClassTable, sizes: ImageSizes,
                  classes_per_batch: int, images_per_class: int, seed: int,
                  start_batch: int = 0, num_chunks: int = 1,
                  shard: Tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """Infinite dataset of (images [P*K, S, S, 3] float32 in [0, 255], labels [P*K] int32).

    Batch numbers start at `start_batch`, so a resumed run continues the same stream.
    For distributed training each global batch is cut into `num_chunks` chunks of whole
    classes (one per replica, in replica order), and an input pipeline keeps the chunks
    `shard` = (number of pipelines, its index) selects; images are only loaded for those.
    """
    load = split.image_loader()

    def load_example(index, image_seed):
        return preprocessing.train_preprocess(
            load(index), image_seed, sizes.resize_size, sizes.crop_size, sizes.flip)

    return pk_stream(split.labels, table, classes_per_batch, images_per_class, seed,
                     load_example, start_batch, num_chunks, shard)


def pk_stream(labels: np.ndarray, table: ClassTable, classes_per_batch: int,
              images_per_class: int, seed: int, example: Callable, start_batch: int = 0,
              num_chunks: int = 1, shard: Tuple[int, int] = (1, 0)) -> tf.data.Dataset:
    """train_dataset's stream of P x K batches (example(index, image_seed), label), for any
    `example`: the images (train_dataset) or their cached features (feature_cache.py) of
    the same draws."""
    labels = tf.constant(labels, tf.int32)
    global_batch = classes_per_batch * images_per_class
    chunk = global_batch // num_chunks

    def chunks_of(batch_number):
        indices = sampling.pk_batch_indices(
            table, classes_per_batch, images_per_class, seed, batch_number
        )
        image_seeds = tf.random.experimental.stateless_split(
            tf.stack([tf.constant(seed, tf.int64) + 1, batch_number]), global_batch
        )
        return tf.data.Dataset.from_tensor_slices((
            tf.reshape(indices, [num_chunks, chunk]),
            tf.reshape(image_seeds, [num_chunks, chunk, 2]),
        ))

    def load_example(index, image_seed):
        return example(index, image_seed), tf.gather(labels, index)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return (
        tf.data.Dataset.counter(start=start_batch, dtype=tf.int64)
        .flat_map(chunks_of)
        .shard(*shard)
        .unbatch()
        .map(load_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(chunk, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def eval_dataset(split: ImageSplit, sizes: ImageSizes, batch_size: int) -> tf.data.Dataset:
    """Dataset of (images, labels) in split order, centre-cropped."""
    load = split.image_loader()
    labels = tf.constant(split.labels, tf.int32)

    def load_example(index):
        image = preprocessing.eval_preprocess(load(index), sizes.resize_size, sizes.crop_size)
        return image, tf.gather(labels, index)

    return (
        tf.data.Dataset.range(len(split))
        .map(load_example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def pk_batches(images: Union[np.ndarray, Sequence[str]], labels: Sequence[int],
               classes_per_batch: int = 8, images_per_class: int = 4,
               image_size: Optional[int] = None, resize_size: Optional[int] = None,
               random_flip: bool = False, seed: int = 0) -> tf.data.Dataset:
    """The Python API's training input: an infinite dataset of P x K batches (images
    float32 [P*K, S, S, 3] in [0, 255], labels int32) of `images` (uint8 pixels [N, H, W, 3]
    or image file paths) with their integer `labels`, randomly resized to `resize_size`
    (default: image_size) and cropped to `image_size` (default: the arrays' height).
    Pixel arrays of any numeric dtype must hold values in [0, 255] (ValueError otherwise,
    float pixels in [0, 1] too: multiply them by 255)."""
    for name, value, least in (("classes_per_batch", classes_per_batch, 2),
                               ("images_per_class", images_per_class, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name}={value!r}: a whole number >= {least}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f"
                                              and np.array_equal(labels, np.round(labels))):
        raise ValueError("labels: whole numbers, one per image (class ids)")
    if isinstance(images, np.ndarray) and images.dtype.kind in "uif":
        check_pixels(images)
        split = ImageSplit(np.round(images).astype(np.uint8), labels.astype(np.int64), ARRAY)
        image_size = image_size or images.shape[1]
    else:
        paths = np.asarray(images, dtype=object).astype(str)
        missing = [path for path in paths if not os.path.isfile(path)]
        if missing:  # found here, not at the first batch that draws one
            raise ValueError(f"images: {len(missing):,} of {len(paths):,} paths are no "
                             f"file (e.g. {missing[0]})")
        split = ImageSplit(paths, np.asarray(labels), PATHS)
    if not image_size:
        raise ValueError("image_size is needed for images given as file paths")
    table = sampling.class_table_for_batches(split.labels, classes_per_batch, images_per_class)
    sizes = ImageSizes(resize_size or image_size, image_size, random_flip)
    return train_dataset(split, table, sizes, classes_per_batch, images_per_class, seed)
