"""One pair view of a batch, for every pair-based loss: the cosine similarities of the
L2-normalised anchors [A] and candidates [C], and which (anchor, candidate) pairs are
positive (one class) or negative (two classes). The candidates are the batch itself (an
image is no pair of itself) or a cross-batch memory (a mask of pairs that are none)."""
from typing import NamedTuple

import tensorflow as tf


class PairView(NamedTuple):
    """similarity [A, C]; positive, negative [A, C] bool; `symmetric`: the candidates are
    the anchors (each unordered pair appears twice, as (i, j) and (j, i))."""

    similarity: tf.Tensor
    positive: tf.Tensor
    negative: tf.Tensor
    symmetric: bool

    def distances(self) -> tf.Tensor:
        """[A, C] Euclidean distances of the unit vectors, sqrt(2 - 2 s); zero, with a zero
        gradient, where the vectors coincide."""
        squares = tf.maximum(2.0 - 2.0 * self.similarity, 0.0)
        zero = tf.equal(squares, 0.0)
        return tf.where(zero, 0.0, tf.sqrt(tf.where(zero, 1.0, squares)))


def unit(embeddings: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)


def batch_pairs(embeddings: tf.Tensor, labels: tf.Tensor) -> PairView:
    """The batch's pairs [B, B], an image with itself none."""
    vectors = unit(embeddings)
    itself = tf.eye(tf.shape(vectors)[0], dtype=tf.bool)
    return _view(vectors, labels, vectors, labels, itself, symmetric=True)


def memory_pairs(embeddings: tf.Tensor, labels: tf.Tensor, memory: tf.Tensor,
                 memory_labels: tf.Tensor, ignored: tf.Tensor) -> PairView:
    """The batch's anchors [B] against the memory's rows [N]; `ignored` [B, N] marks the
    pairs that are none (an empty slot, an anchor's own row)."""
    return _view(unit(embeddings), labels, unit(memory), memory_labels, ignored,
                 symmetric=False)


def _view(anchors, anchor_labels, candidates, candidate_labels, ignored, symmetric):
    similarity = tf.matmul(anchors, candidates, transpose_b=True)
    same = tf.equal(tf.reshape(anchor_labels, [-1, 1]), tf.reshape(candidate_labels, [1, -1]))
    return PairView(similarity, same & ~ignored, ~same & ~ignored, symmetric)
