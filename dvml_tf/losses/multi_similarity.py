"""The Multi-Similarity loss with its pair mining (Wang et al., CVPR 2019), written from
the paper.

On cosine similarities S_ik of L2-normalised embeddings, anchor i keeps (eq. 5, 6)
    a positive pair (i, j) when S_ij - eps < max_{k in N_i} S_ik,
    a negative pair (i, k) when S_ik + eps > min_{j in P_i} S_ij,
P_i / N_i its other images of its class / of other classes, and pays (eq. 7)
    1/alpha log(1 + sum_{j kept} exp(-alpha (S_ij - lambda)))
  + 1/beta  log(1 + sum_{k kept} exp( beta  (S_ik - lambda))).
The paper's Cars196 setting: alpha = 2, beta = 50, lambda = 1, eps = 0.1. The candidates
(P_i, N_i) may come from another set than the anchors: cross-batch memory (XBM) asks for
the loss of the batch against the memory.
"""
import tensorflow as tf

ALPHA, BETA, BASE, EPSILON = 2.0, 50.0, 1.0, 0.1


def multi_similarity_terms(anchors: tf.Tensor, anchor_labels: tf.Tensor,
                           candidates: tf.Tensor, candidate_labels: tf.Tensor,
                           ignored: tf.Tensor, alpha: float = ALPHA, beta: float = BETA,
                           base: float = BASE, epsilon: float = EPSILON) -> tf.Tensor:
    """Each anchor's loss [A] (eq. 7 after the mining of eqs. 5-6) against the candidates
    [C, D]; `ignored` [A, C] marks pairs that are no pair (an anchor with itself, an empty
    memory slot). An anchor without a kept pair of a kind pays nothing for that kind."""
    anchors = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    candidates = tf.math.l2_normalize(tf.cast(candidates, tf.float32), axis=-1)
    similarity = tf.matmul(anchors, candidates, transpose_b=True)
    same = tf.equal(anchor_labels[:, None], candidate_labels[None, :])
    positive = same & ~ignored
    negative = ~same & ~ignored
    hardest_negative = tf.reduce_max(tf.where(negative, similarity, -float("inf")), axis=1)
    hardest_positive = tf.reduce_min(tf.where(positive, similarity, float("inf")), axis=1)
    kept_positive = positive & (similarity - epsilon < hardest_negative[:, None])
    kept_negative = negative & (similarity + epsilon > hardest_positive[:, None])
    # log(1 + sum exp(x)) over the kept pairs: logsumexp with a 0 for the 1.
    positive_term = log_one_plus_sum_exp(-alpha * (similarity - base), kept_positive) / alpha
    negative_term = log_one_plus_sum_exp(beta * (similarity - base), kept_negative) / beta
    return positive_term + negative_term


def log_one_plus_sum_exp(logits: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
    """log(1 + sum_{kept} exp(logits)) per row, stable for large logits."""
    masked = tf.where(kept, logits, -float("inf"))
    with_one = tf.concat([tf.zeros_like(masked[:, :1]), masked], axis=1)
    return tf.reduce_logsumexp(with_one, axis=1)
