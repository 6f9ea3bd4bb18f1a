"""Class-balanced P x K batches as a tf.data pipeline.

Batch b is a pure function of (seed, b): P distinct classes, then K images of each
(without replacement, or with replacement for classes smaller than K). A resumed run
starts at the batch it stopped at and sees the same stream as an uninterrupted one.
"""
import dataclasses
import logging

import numpy as np
import tensorflow as tf

from dvml_tf.errors import UserError, flag


@dataclasses.dataclass
class ClassTable:
    """Image indices grouped by class; classes with fewer than two images are dropped."""

    class_ids: np.ndarray
    rows: tf.RaggedTensor
    dropped_classes: int
    classes_below_k: int


def build_class_table(labels: np.ndarray, images_per_class: int) -> ClassTable:
    labels = np.asarray(labels)
    class_ids, counts = np.unique(labels, return_counts=True)
    usable = counts >= 2
    order = np.argsort(labels, kind="stable")
    groups = np.split(order, np.cumsum(counts)[:-1])
    rows = [g for g, keep in zip(groups, usable) if keep]
    return ClassTable(
        class_ids=class_ids[usable],
        rows=tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1)
        if rows
        else tf.ragged.constant([[0]], dtype=tf.int64)[:0],
        dropped_classes=int((~usable).sum()),
        classes_below_k=int(((counts < images_per_class) & usable).sum()),
    )


def class_table_for_batches(labels: np.ndarray, classes_per_batch: int,
                            images_per_class: int) -> ClassTable:
    """The class table of `labels`; UserError when it cannot form P x K batches."""
    table = build_class_table(labels, images_per_class)
    usable = len(table.class_ids)
    if table.dropped_classes:
        logging.warning("skipped %d training classes with a single image", table.dropped_classes)
    if table.classes_below_k:
        logging.info("%d training classes have fewer than K=%d images; their batches repeat "
                     "images", table.classes_below_k, images_per_class)
    if usable < classes_per_batch:
        raise UserError(f"{flag('classes_per_batch')}={classes_per_batch} exceeds the "
                        f"{usable} training classes with at least two images")
    return table


def pk_batch_indices(table: ClassTable, classes_per_batch: int, images_per_class: int,
                     seed: int, batch_number: tf.Tensor) -> tf.Tensor:
    """Indices [P * K] of batch `batch_number`, grouped class by class."""
    batch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(batch_number, tf.int64)])
    class_seed, image_seed, fill_seed = tf.unstack(
        tf.random.experimental.stateless_split(batch_seed, 3)
    )
    num_classes = tf.shape(table.rows.row_lengths(), out_type=tf.int64)[0]
    chosen = tf.random.experimental.stateless_shuffle(tf.range(num_classes), class_seed)
    rows = tf.gather(table.rows, chosen[:classes_per_batch])
    lengths = rows.row_lengths()
    keys = tf.RaggedTensor.from_row_splits(
        tf.random.stateless_uniform(tf.shape(rows.flat_values), image_seed), rows.row_splits
    ).to_tensor(default_value=2.0)
    # Random order within each class; padding (key 2.0) sorts last.
    order = tf.argsort(keys, axis=1)
    width = tf.shape(order)[1]
    order = tf.pad(order, [[0, 0], [0, tf.maximum(0, images_per_class - width)]])
    order = tf.cast(order[:, :images_per_class], tf.int64)
    # Classes smaller than K fill their remaining slots with replacement.
    fill = tf.random.stateless_uniform([classes_per_batch, images_per_class], fill_seed)
    fill = tf.cast(tf.floor(fill * tf.cast(lengths[:, None], tf.float32)), tf.int64)
    slots = tf.range(images_per_class, dtype=tf.int64)[None, :]
    positions = tf.where(slots < lengths[:, None], order, fill)
    return tf.reshape(tf.gather(rows.to_tensor(), positions, batch_dims=1), [-1])
