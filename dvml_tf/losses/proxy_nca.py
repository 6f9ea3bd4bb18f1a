"""Proxy-NCA (Movshovitz-Attias et al. 2017): one learned proxy per training class.

Each embedding is pulled towards its class's proxy and pushed from every other proxy:
    loss(x, y) = -log( exp(-d(x, p_y)) / sum_{z != y} exp(-d(x, p_z)) ),
d the squared Euclidean distance of the L2-normalised embedding and proxy, each scaled
by PROXY_SCALE (choice: unit vectors alone give distances in [0, 4], too flat a softmax
over many classes for the loss to train). Written from the paper.
"""
import numpy as np
import tensorflow as tf

from dvml_tf.losses.arguments import whole
from dvml_tf.losses.base import (
    REDUCTION_SETTING,
    BaseMetricLoss,
    labels_with_a_proxy,
    register_loss,
)
from dvml_tf.losses.reduction import reduce_terms

# Embeddings and proxies are unit vectors times this: squared distances lie in [0, 4 * 9].
PROXY_SCALE = 3.0


def initial_proxies(num_classes: int, dim: int, seed: int = 0) -> np.ndarray:
    """The proxy table's first value [num_classes, dim]: standard-normal rows (normalised
    when used)."""
    return tf.random.stateless_normal([num_classes, dim], seed=[seed, 11]).numpy()


PROXY_SETTINGS = {"num_proxies": ("num_classes", whole(1)),
                  "embedding_dim": ("embedding_dim", whole(1))}


@register_loss("proxy_nca")
class ProxyNCALoss(BaseMetricLoss):
    """Proxy-NCA over a table of `num_classes` proxies of `embedding_dim` (this layer's
    weight), indexed by the training labels; averaged over the batch ("mean") or added."""

    SETTINGS = {**PROXY_SETTINGS, **REDUCTION_SETTING}
    has_proxies = trains_variables = True

    def __init__(self, *, num_classes: int, embedding_dim: int, reduction: str = "mean",
                 **kwargs):
        super().__init__(**kwargs)
        self._set(num_classes=num_classes, embedding_dim=embedding_dim, reduction=reduction)
        self.proxies = self._trained_weight(
            "proxy_nca_proxies", initial_proxies(self.num_classes, self.embedding_dim))

    def loss(self, embeddings, labels, seed=None):
        labels = labels_with_a_proxy(labels, self.num_classes)
        x = PROXY_SCALE * tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
        p = PROXY_SCALE * tf.math.l2_normalize(self.proxies, axis=-1)
        distances = (tf.reduce_sum(tf.square(x), 1, keepdims=True)
                     - 2.0 * tf.matmul(x, p, transpose_b=True)
                     + tf.reduce_sum(tf.square(p), 1)[tf.newaxis])
        own = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, on_value=True,
                         off_value=False)
        positive = tf.reduce_sum(tf.where(own, distances, 0.0), axis=1)
        # The denominator sums over the other classes only (the paper's NCA form).
        others = tf.reduce_logsumexp(tf.where(own, -1e30, -distances), axis=1)
        terms = positive + others
        return reduce_terms(terms, tf.ones_like(terms), self.reduction)
