"""Circle loss (Sun et al., CVPR 2020, eq. 4 with the self-paced weights of Sec. 3.2),
written from the paper.

On cosine similarities s of L2-normalised embeddings, anchor i pays
    softplus( logsumexp_{n in N_i} gamma a_n (s_n - D_n)
            + logsumexp_{p in P_i} -gamma a_p (s_p - D_p) ),
a_p = [1 + m - s_p]+, a_n = [s_n + m]+, D_p = 1 - m, D_n = m; P_i / N_i its other images
of its class / of other classes. The paper's fine-grained retrieval setting (Cars196):
m = 0.4, gamma = 80. The weights a_p, a_n carry gradient here, as the equations read and
as keras.losses.Circle computes them (the authors' code holds them constant). The
candidates may come from another set than the anchors: cross-batch memory (XBM).
"""
import tensorflow as tf

from dvml_tf.losses.arguments import non_negative, positive
from dvml_tf.losses.base import REDUCTION_SETTING, PairLoss, register_loss
from dvml_tf.losses.pairs import PairView
from dvml_tf.losses.reduction import reduce_terms

GAMMA, MARGIN = 80.0, 0.4


@register_loss("circle")
class CircleLoss(PairLoss):
    """Each anchor's term, averaged ("mean") over the anchors with a positive and a
    negative pair, as keras.losses.Circle averages, or added. An anchor without both
    kinds of pair pays 0."""

    SETTINGS = {"margin": ("margin", non_negative), "circle_gamma": ("gamma", positive),
                **REDUCTION_SETTING}

    def __init__(self, *, margin: float = MARGIN, gamma: float = GAMMA,
                 reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(margin=margin, gamma=gamma, reduction=reduction)

    def of_pairs(self, pairs: PairView) -> tf.Tensor:
        similarity, positive, negative = pairs.similarity, pairs.positive, pairs.negative
        positive_logits = -self.gamma * tf.nn.relu(1.0 + self.margin - similarity) * (
            similarity - (1.0 - self.margin))
        negative_logits = self.gamma * tf.nn.relu(similarity + self.margin) * (
            similarity - self.margin)
        both = tf.reduce_any(positive, axis=1) & tf.reduce_any(negative, axis=1)
        # An anchor without both kinds gets 0 logits (no inf - inf), and its term is dropped.
        summed = (_masked_logsumexp(positive_logits, positive)
                  + _masked_logsumexp(negative_logits, negative))
        terms = tf.where(both, tf.math.softplus(tf.where(both, summed, 0.0)), 0.0)
        return reduce_terms(terms, both, self.reduction)


def _masked_logsumexp(logits: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
    """logsumexp over the kept entries of each row; 0 for a row without any."""
    return tf.where(tf.reduce_any(kept, axis=1),
                    tf.reduce_logsumexp(tf.where(kept, logits, -1e30), axis=1), 0.0)
