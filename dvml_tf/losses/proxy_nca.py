"""Proxy-NCA (Movshovitz-Attias et al. 2017): one learned proxy per training class.

Each embedding is pulled towards its class's proxy and pushed from every other proxy:
    loss(x, y) = -log( exp(-d(x, p_y)) / sum_{z != y} exp(-d(x, p_z)) ),
d the squared Euclidean distance of the L2-normalised embedding and proxy, each scaled
by PROXY_SCALE (choice: unit vectors alone give distances in [0, 4], too flat a softmax
over many classes for the loss to train). Written from the paper.
"""
import numpy as np
import tensorflow as tf

# Embeddings and proxies are unit vectors times this: squared distances lie in [0, 4 * 9].
PROXY_SCALE = 3.0


def initial_proxies(num_classes: int, dim: int, seed: int = 0) -> np.ndarray:
    """The proxy table's first value [num_classes, dim]: standard-normal rows (normalised
    when used)."""
    return tf.random.stateless_normal([num_classes, dim], seed=[seed, 11]).numpy()


def proxy_nca_terms(embeddings: tf.Tensor, labels: tf.Tensor,
                    proxies) -> tf.Tensor:
    """The per-embedding losses [B]; labels index rows of `proxies`."""
    x = PROXY_SCALE * tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
    p = PROXY_SCALE * tf.math.l2_normalize(proxies, axis=-1)
    distances = (tf.reduce_sum(tf.square(x), 1, keepdims=True)
                 - 2.0 * tf.matmul(x, p, transpose_b=True)
                 + tf.reduce_sum(tf.square(p), 1)[tf.newaxis])
    own = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(p)[0], on_value=True, off_value=False)
    positive = tf.reduce_sum(tf.where(own, distances, 0.0), axis=1)
    # The denominator sums over the other classes only (the paper's NCA form).
    others = tf.reduce_logsumexp(tf.where(own, -1e30, -distances), axis=1)
    return positive + others
