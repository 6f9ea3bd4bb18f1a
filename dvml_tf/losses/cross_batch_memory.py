"""Cross-batch memory (XBM, Wang et al., CVPR 2020), written from the paper.

A ring of the last N embeddings and labels that training saw, variables that are not
trained (no gradient reaches them or flows from them into past batches): a
pair-based loss then also pairs the batch's anchors with the memory,
    L = Lm(batch, batch) + Lm(batch, memory),
mining among many more pairs than one batch holds. The batch is added to the memory after
its loss, so the memory never holds the current batch; it is switched on after
`--cross_batch_memory_start` steps (the paper: once the embedding drifts slowly), and
fills from then on. Its state is variables, so checkpoints keep it and a resumed run
continues with the same memory.
"""
from typing import Callable, Tuple

import numpy as np
import tensorflow as tf


class CrossBatchMemory(tf.Module):
    """The last `size` rows of (embeddings [., dim], labels) given to `enqueue`.

    `make_state(name, initial)` makes each non-trained variable (a Keras layer's weight in
    a model, mirrored across replicas); a tf.Module, so that checkpoints of its owner hold
    them.
    """

    def __init__(self, size: int, dim: int, make_state: Callable):
        super().__init__(name="cross_batch_memory")
        self.size = size
        self.embeddings = make_state("xbm_embeddings", np.zeros([size, dim], np.float32))
        self.labels = make_state("xbm_labels", np.full([size], -1, np.int32))
        # Rows ever enqueued; the next row goes to slot written % size.
        self.written = make_state("xbm_rows_written", np.int64(0))

    def contents(self) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(embeddings [N, dim], labels [N], filled [N]): filled marks the slots written."""
        filled = tf.range(self.size, dtype=tf.int64) < tf.minimum(
            tf.cast(self.written, tf.int64), self.size)
        return tf.convert_to_tensor(self.embeddings), tf.convert_to_tensor(self.labels), filled

    def enqueue(self, embeddings: tf.Tensor, labels: tf.Tensor,
                when: tf.Tensor = True) -> None:
        """Writes the rows over the oldest ones (of a batch larger than the memory, its
        last `size` rows), where the scalar bool `when` holds."""
        embeddings = tf.cast(embeddings, tf.float32)[-self.size:]
        labels = tf.cast(labels, tf.int32)[-self.size:]
        rows = tf.shape(labels, out_type=tf.int64)[0]
        written = tf.cast(self.written, tf.int64)
        slots = ((written + tf.range(rows)) % self.size)[:, None]
        self.embeddings.assign(tf.where(
            when, tf.tensor_scatter_nd_update(self.embeddings, slots, embeddings),
            self.embeddings))
        self.labels.assign(tf.where(
            when, tf.tensor_scatter_nd_update(self.labels, slots, labels), self.labels))
        self.written.assign(tf.where(when, written + rows, written))
