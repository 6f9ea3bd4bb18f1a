"""The angular loss (Wang et al. 2017, eq. 8, N-pair form).

For the anchor a and positive p of each class in the batch, with every image of the other
classes (their anchors and positives) as negatives n:
    loss(a, p) = log(1 + sum_n exp(4 tan^2(alpha) (a + p)^T n - 2 (1 + tan^2(alpha)) a^T p)),
on L2-normalised embeddings. It bounds the angle at the negative by alpha. Written
from the paper.
"""
import math

import tensorflow as tf


def angular_terms(anchors: tf.Tensor, positives: tf.Tensor, alpha_degrees: float) -> tf.Tensor:
    """The per-anchor losses [N]: row i of anchors and positives is class i's pair; the
    other rows' anchors and positives are its negatives."""
    a = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    p = tf.math.l2_normalize(tf.cast(positives, tf.float32), axis=-1)
    tan_squared = math.tan(math.radians(alpha_degrees)) ** 2
    negatives = tf.concat([a, p], axis=0)
    # logits[i, n] = 4 tan^2 (a_i + p_i)^T n - 2 (1 + tan^2) a_i^T p_i, over every image n.
    logits = (4.0 * tan_squared * tf.matmul(a + p, negatives, transpose_b=True)
              - 2.0 * (1.0 + tan_squared) * tf.reduce_sum(a * p, axis=1, keepdims=True))
    own_pair = tf.eye(tf.shape(a)[0], dtype=tf.bool)
    others = ~tf.concat([own_pair, own_pair], axis=1)
    # log(1 + sum_j exp(logit_j)) = logsumexp over {0} and the negatives' logits.
    with_one = tf.concat([tf.zeros_like(logits[:, :1]), tf.where(others, logits, -1e30)], 1)
    return tf.reduce_logsumexp(with_one, axis=1)
