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

from dvml_tf.losses.arguments import finite, non_negative, positive
from dvml_tf.losses.base import REDUCTION_SETTING, PairLoss, register_loss
from dvml_tf.losses.pairs import PairView
from dvml_tf.losses.reduction import reduce_terms

ALPHA, BETA, BASE, EPSILON = 2.0, 50.0, 1.0, 0.1


@register_loss("multi_similarity")
class MultiSimilarityLoss(PairLoss):
    """Eq. 7 after the mining of eqs. 5-6, averaged over the anchors ("mean", as the
    authors' code) or added. An anchor without a kept pair of a kind pays nothing for
    that kind."""

    SETTINGS = {"ms_alpha": ("alpha", positive), "ms_beta": ("beta", positive),
                "ms_lambda": ("base", finite), "margin": ("epsilon", non_negative),
                **REDUCTION_SETTING}

    def __init__(self, *, alpha: float = ALPHA, beta: float = BETA, base: float = BASE,
                 epsilon: float = EPSILON, reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(alpha=alpha, beta=beta, base=base, epsilon=epsilon, reduction=reduction)

    def of_pairs(self, pairs: PairView) -> tf.Tensor:
        return reduce_terms(self.terms(pairs), tf.ones_like(pairs.similarity[:, 0]),
                            self.reduction)

    def terms(self, pairs: PairView) -> tf.Tensor:
        """Each anchor's loss [A]."""
        similarity, positive, negative = pairs.similarity, pairs.positive, pairs.negative
        hardest_negative = tf.reduce_max(tf.where(negative, similarity, -float("inf")), axis=1)
        hardest_positive = tf.reduce_min(tf.where(positive, similarity, float("inf")), axis=1)
        kept_positive = positive & (similarity - self.epsilon < hardest_negative[:, None])
        kept_negative = negative & (similarity + self.epsilon > hardest_positive[:, None])
        # log(1 + sum exp(x)) over the kept pairs: logsumexp with a 0 for the 1.
        positive_term = log_one_plus_sum_exp(-self.alpha * (similarity - self.base),
                                             kept_positive) / self.alpha
        negative_term = log_one_plus_sum_exp(self.beta * (similarity - self.base),
                                             kept_negative) / self.beta
        return positive_term + negative_term


def log_one_plus_sum_exp(logits: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
    """log(1 + sum_{kept} exp(logits)) per row, stable for large logits."""
    masked = tf.where(kept, logits, -float("inf"))
    with_one = tf.concat([tf.zeros_like(masked[:, :1]), masked], axis=1)
    return tf.reduce_logsumexp(with_one, axis=1)
