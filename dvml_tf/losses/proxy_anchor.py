"""The Proxy-Anchor loss (Kim et al., CVPR 2020, eq. 4), written from the paper.

One proxy per training class; each proxy p is an anchor for the whole batch X:
    L = 1/|P+| sum_{p in P+} log(1 + sum_{x in X_p+} exp(-alpha (s(x, p) - delta)))
      + 1/|P|  sum_{p in P}  log(1 + sum_{x in X_p-} exp( alpha (s(x, p) + delta))),
s the cosine similarity, P+ the proxies of the classes in the batch, X_p+ / X_p- the
batch's images of p's class / of the others. The paper: alpha = 32, delta = 0.1, proxies
trained at 100 times the learning rate.

The learning-rate multiplier: the loss sees only each proxy's direction, so the table is
held at 1/multiplier of its scale. Adam's step does not depend on the gradient's scale, so
the table moves by the learning rate per step as any variable does, which turns the
short proxies' directions the multiplier times faster: the very trajectory of proxies of
full scale at the multiplier times the learning rate (to Adam's epsilon). Under plain SGD
the factor would be the multiplier squared.
"""
import tensorflow as tf

from dvml_tf.losses.multi_similarity import log_one_plus_sum_exp

ALPHA, DELTA, LEARNING_RATE_MULTIPLIER = 32.0, 0.1, 100.0


def proxy_anchor_loss(embeddings: tf.Tensor, labels: tf.Tensor, proxies: tf.Tensor,
                      alpha: float = ALPHA, delta: float = DELTA,
                      reduction: str = "mean") -> tf.Tensor:
    """Eq. 4 for `embeddings` [B, D] with `labels` [B] indexing rows of `proxies` [C, D];
    reduction="sum" adds the proxies' terms instead of averaging each sum."""
    x = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
    p = tf.math.l2_normalize(proxies, axis=-1)
    similarity = tf.matmul(p, x, transpose_b=True)  # [C, B]
    own = tf.transpose(tf.one_hot(tf.cast(labels, tf.int32), tf.shape(p)[0],
                                  on_value=True, off_value=False))  # [C, B]
    positive = log_one_plus_sum_exp(-alpha * (similarity - delta), own)
    negative = log_one_plus_sum_exp(alpha * (similarity + delta), ~own)
    in_batch = tf.reduce_any(own, axis=1)
    positive_sum = tf.reduce_sum(positive)  # 0 for a proxy without images in the batch
    negative_sum = tf.reduce_sum(negative)
    if reduction == "sum":
        return positive_sum + negative_sum
    proxies_in_batch = tf.reduce_sum(tf.cast(in_batch, tf.float32))
    return (positive_sum / tf.maximum(proxies_in_batch, 1.0)
            + negative_sum / tf.cast(tf.shape(p)[0], tf.float32))

