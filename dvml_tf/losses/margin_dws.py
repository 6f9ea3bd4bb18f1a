"""Wu et al. 2017's margin loss with distance-weighted sampling (the paper's Triplet2 + DWS).

TF-Addons has no such loss; this is written from Wu et al.'s definitions.
"""
import numpy as np
import tensorflow as tf

from dvml_tf.losses.arguments import non_negative
from dvml_tf.losses.base import REDUCTION_SETTING, BaseMetricLoss, register_loss
from dvml_tf.losses.pairs import batch_pairs
from dvml_tf.losses.reduction import reduce_terms

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


@register_loss("margin_dws")
class MarginDWSLoss(BaseMetricLoss):
    """Wu et al.'s margin loss on non-squared distances of unit vectors, with a learned
    boundary beta (this layer's weight, from `initial_beta`). Every positive pair (i, j)
    contributes relu(margin + d_ij - beta), and one negative n drawn for it by
    distance-weighted sampling relu(margin + beta - d_in); the sum is averaged over the
    terms that are non-zero ("mean", Wu et al.'s reduction) or left a sum (eq. 4 as
    printed)."""

    SETTINGS = {"margin": ("margin", non_negative), **REDUCTION_SETTING}
    trains_variables = True

    def __init__(self, *, margin: float = 0.2, reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(margin=margin, reduction=reduction)
        self.beta = self._trained_weight("margin_dws_beta", np.float32(INITIAL_BETA))

    def loss(self, embeddings, labels, seed=None):
        pairs = batch_pairs(embeddings, labels)
        distances = pairs.distances()
        batch = tf.shape(distances)[0]
        seed = tf.zeros([2], tf.int64) if seed is None else tf.cast(seed, tf.int64)
        logits = negative_log_weights(distances, labels, tf.shape(embeddings)[1])
        # Column j of row i: the negative drawn for the pair (i, j).
        negatives = tf.random.stateless_categorical(logits, batch, seed, dtype=tf.int32)
        negative_distances = tf.gather(distances, negatives, batch_dims=1)
        mask = tf.cast(pairs.positive, tf.float32)
        positive_loss = tf.nn.relu(self.margin + distances - self.beta) * mask
        negative_loss = tf.nn.relu(self.margin + self.beta - negative_distances) * mask
        active = tf.concat([positive_loss > 0, negative_loss > 0], axis=0)
        return reduce_terms(positive_loss + negative_loss, active, self.reduction)
