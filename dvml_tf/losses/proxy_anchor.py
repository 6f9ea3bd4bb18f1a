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

from dvml_tf.losses.arguments import non_negative, positive
from dvml_tf.losses.base import (
    REDUCTION_SETTING,
    BaseMetricLoss,
    labels_with_a_proxy,
    register_loss,
)
from dvml_tf.losses.multi_similarity import log_one_plus_sum_exp
from dvml_tf.losses.proxy_nca import PROXY_SETTINGS, initial_proxies
from dvml_tf.losses.reduction import reduce_terms

ALPHA, DELTA, LEARNING_RATE_MULTIPLIER = 32.0, 0.1, 100.0


@register_loss("proxy_anchor")
class ProxyAnchorLoss(BaseMetricLoss):
    """Eq. 4 over a table of `num_classes` proxies of `embedding_dim` (this layer's
    weight), indexed by the training labels; `margin` is its delta. "mean" is eq. 4's
    1/|P+| and 1/|P|; "sum" adds the proxies' terms. The table starts at 1/lr_multiplier
    of its scale: the proxies' learning-rate multiplier under Adam (above)."""

    SETTINGS = {**PROXY_SETTINGS, "margin": ("margin", non_negative),
                "proxy_anchor_alpha": ("alpha", positive),
                "proxy_lr_multiplier": ("lr_multiplier", positive), **REDUCTION_SETTING}
    has_proxies = trains_variables = True

    def __init__(self, *, num_classes: int, embedding_dim: int, margin: float = DELTA,
                 alpha: float = ALPHA, lr_multiplier: float = LEARNING_RATE_MULTIPLIER,
                 reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(num_classes=num_classes, embedding_dim=embedding_dim, margin=margin,
                  alpha=alpha, lr_multiplier=lr_multiplier, reduction=reduction)
        self.proxies = self._trained_weight(
            "proxy_anchor_proxies",
            initial_proxies(self.num_classes, self.embedding_dim) / self.lr_multiplier)

    def loss(self, embeddings, labels, seed=None):
        labels = labels_with_a_proxy(labels, self.num_classes)
        x = tf.math.l2_normalize(tf.cast(embeddings, tf.float32), axis=-1)
        p = tf.math.l2_normalize(self.proxies, axis=-1)
        similarity = tf.matmul(p, x, transpose_b=True)  # [C, B]
        own = tf.transpose(tf.one_hot(tf.cast(labels, tf.int32), self.num_classes,
                                      on_value=True, off_value=False))  # [C, B]
        # A proxy without images in the batch: a positive term of 0, not counted in P+.
        positive_terms = log_one_plus_sum_exp(-self.alpha * (similarity - self.margin), own)
        negative_terms = log_one_plus_sum_exp(self.alpha * (similarity + self.margin), ~own)
        return (reduce_terms(positive_terms, tf.reduce_any(own, axis=1), self.reduction)
                + reduce_terms(negative_terms, tf.ones_like(negative_terms), self.reduction))
