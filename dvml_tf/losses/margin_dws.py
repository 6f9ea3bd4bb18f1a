"""Wu et al. 2017's margin loss with distance-weighted sampling (the paper's Triplet2 + DWS).

TF-Addons has no such loss; this is written from Wu et al.'s definitions.
"""
from typing import Callable

import tensorflow as tf

from dvml_tf.losses.standard import pairwise_distances

# Wu et al.'s initial boundary between positive and negative distances.
INITIAL_BETA = 1.2


def negative_log_weights(distances: tf.Tensor, labels: tf.Tensor, dim: tf.Tensor,
                         cutoff: float = 0.5, nonzero_loss_cutoff: float = 1.4) -> tf.Tensor:
    """Logits [B, B] of drawing each negative for each anchor (Wu et al. 2017, eq. 4).

    A negative at distance d is drawn with probability ~ 1/q(d), where
    q(d) ~ d^(n-2) (1 - d^2/4)^((n-3)/2) is the density of distances between uniform
    points on the unit sphere in n = `dim` dimensions; d is clipped below at `cutoff`
    and negatives at `nonzero_loss_cutoff` or farther are never drawn (a row without
    such a negative draws uniformly among its negatives).
    """
    n = tf.cast(dim, tf.float32)
    clipped = tf.maximum(distances, cutoff)
    log_q = (n - 2.0) * tf.math.log(clipped) + (n - 3.0) / 2.0 * tf.math.log(
        tf.maximum(1.0 - 0.25 * tf.square(clipped), 1e-8))
    negative = tf.not_equal(labels[:, None], labels[None, :])
    allowed = negative & (distances < nonzero_loss_cutoff)
    weighted = tf.where(allowed, -log_q, -1e30)
    weighted -= tf.reduce_max(weighted, axis=1, keepdims=True)
    uniform = tf.where(negative, 0.0, -1e30)
    return tf.where(tf.reduce_any(allowed, axis=1, keepdims=True), weighted, uniform)


def margin_dws_loss(margin: float, beta, reduction: str = "mean") -> Callable:
    """Wu et al.'s margin loss on non-squared distances of unit vectors, with a learned
    boundary beta. Every positive pair (i, j) contributes relu(margin + d_ij - beta), and
    one negative n drawn for it by distance-weighted sampling relu(margin + beta - d_in);
    the sum is averaged over the terms that are non-zero (Wu et al.'s reduction), or with
    reduction="sum" left a sum (eq. 4 as printed)."""

    def loss(embeddings, labels, seed=None):
        unit = tf.math.l2_normalize(embeddings, axis=-1)
        distances = pairwise_distances(unit, squared=False)
        batch = tf.shape(unit)[0]
        seed = tf.zeros([2], tf.int64) if seed is None else tf.cast(seed, tf.int64)
        logits = negative_log_weights(distances, labels, tf.shape(unit)[1])
        # Column j of row i: the negative drawn for the pair (i, j).
        negatives = tf.random.stateless_categorical(logits, batch, seed, dtype=tf.int32)
        negative_distances = tf.gather(distances, negatives, batch_dims=1)
        rows = tf.range(batch)
        positive = tf.equal(labels[:, None], labels[None, :]) & tf.not_equal(
            rows[:, None], rows[None, :])
        mask = tf.cast(positive, tf.float32)
        positive_loss = tf.nn.relu(margin + distances - beta) * mask
        negative_loss = tf.nn.relu(margin + beta - negative_distances) * mask
        total = tf.reduce_sum(positive_loss + negative_loss)
        if reduction == "sum":
            return total
        active = tf.reduce_sum(tf.cast(positive_loss > 0, tf.float32)
                               + tf.cast(negative_loss > 0, tf.float32))
        return total / tf.maximum(active, 1.0)

    return loss
