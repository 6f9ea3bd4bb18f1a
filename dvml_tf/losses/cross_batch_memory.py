"""Cross-batch memory (XBM, Wang et al., CVPR 2020), written from the paper.

A ring of the last N embeddings and labels that training saw, variables that are not
trained (no gradient reaches them or flows from them into past batches): a
pair-based loss then also pairs the batch's anchors with the memory,
    L = Lm(batch, batch) + Lm(batch, memory),
mining among many more pairs than one batch holds. As in the XBM authors' training loop,
the memory term sees the memory with the current batch already in it (enqueued, detached,
over the oldest rows), so each anchor is mined against the memory and its own batch
together, its own row excluded: an anchor whose class has no older row in the memory
still has its batch's positives to mine the memory's negatives against. The memory is
switched on after `--cross_batch_memory_start` steps (the paper: once the embedding
drifts slowly), and fills from then on; the batch is written for good after its step (not
for a skipped one). Its state is variables, so checkpoints keep it and a resumed run
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

    def joined(self, embeddings: tf.Tensor, labels: tf.Tensor
               ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The memory as it is once the rows `embeddings` [B, dim] with `labels` [B] are
        written over the oldest ones (of a batch larger than the memory, its last `size`
        rows), without writing them: (embeddings [N, dim], labels [N], filled [N], slot [B]
        of each row, -1 for a row that did not fit). The rows are held: no gradient."""
        embeddings = tf.stop_gradient(tf.cast(embeddings, tf.float32))
        labels = tf.cast(labels, tf.int32)
        rows = tf.shape(labels, out_type=tf.int64)[0]
        dropped = tf.maximum(rows - self.size, 0)
        written = tf.cast(self.written, tf.int64)
        position = tf.range(rows, dtype=tf.int64) - dropped
        slot = tf.where(position >= 0, (written + position) % self.size, -1)
        slots = slot[dropped:, None]
        filled = tf.range(self.size, dtype=tf.int64) < tf.minimum(written + rows, self.size)
        return (tf.tensor_scatter_nd_update(tf.convert_to_tensor(self.embeddings), slots,
                                            embeddings[dropped:]),
                tf.tensor_scatter_nd_update(tf.convert_to_tensor(self.labels), slots,
                                            labels[dropped:]),
                filled, slot)

    def enqueue(self, embeddings: tf.Tensor, labels: tf.Tensor,
                when: tf.Tensor = True) -> None:
        """Writes the rows as `joined` places them, where the scalar bool `when` holds."""
        new_embeddings, new_labels, _, _ = self.joined(embeddings, labels)
        rows = tf.shape(labels, out_type=tf.int64)[0]
        written = tf.cast(self.written, tf.int64)
        self.embeddings.assign(tf.where(when, new_embeddings, self.embeddings))
        self.labels.assign(tf.where(when, new_labels, self.labels))
        self.written.assign(tf.where(when, written + rows, written))

    def pairs_to_ignore(self, filled: tf.Tensor, slot: tf.Tensor, own_rows: bool) -> tf.Tensor:
        """[B, N]: the (anchor, memory slot) pairs that are no pair: an empty slot, and with
        `own_rows` (the anchors are the rows joined) each anchor's own row."""
        ignored = tf.broadcast_to(~filled[None, :], [tf.shape(slot)[0], self.size])
        if own_rows:
            ignored |= tf.equal(slot[:, None], tf.range(self.size, dtype=tf.int64)[None, :])
        return ignored
