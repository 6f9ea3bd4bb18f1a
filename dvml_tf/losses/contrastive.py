"""The contrastive loss (Hadsell et al. 2006) of every pair of normalised embeddings, on
their Euclidean distances: d^2 for a pair of one class, relu(margin - d)^2 otherwise,
each pair's term computed by TF-Addons or the package's own (backend.py)."""
import tensorflow as tf

from dvml_tf.losses.arguments import non_negative
from dvml_tf.losses.backend import BACKEND_SETTING, loss_functions
from dvml_tf.losses.base import REDUCTION_SETTING, PairLoss, register_loss
from dvml_tf.losses.pairs import PairView
from dvml_tf.losses.reduction import reduce_terms


@register_loss("contrastive")
class ContrastiveLoss(PairLoss):
    """"mean": the positive pairs and the negative pairs averaged separately, so that the
    many negatives do not drown the positives, and added; "sum": every pair's term added
    (of the batch, each unordered pair once). With a memory: every (anchor, written slot)
    pair."""

    SETTINGS = {"margin": ("margin", non_negative), **BACKEND_SETTING, **REDUCTION_SETTING}

    def __init__(self, *, margin: float = 0.5, backend: str = "auto",
                 reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(margin=margin, backend=backend, reduction=reduction)

    def of_pairs(self, pairs: PairView) -> tf.Tensor:
        same = tf.cast(pairs.positive, tf.float32)
        per_pair = loss_functions(self.backend).contrastive_loss(same, pairs.distances(),
                                                                 margin=self.margin)
        positive = per_pair * same
        negative = per_pair * tf.cast(pairs.negative, tf.float32)
        if self.reduction == "sum" and pairs.symmetric:  # (i, j) and (j, i): one pair
            positive, negative = 0.5 * positive, 0.5 * negative
        return (reduce_terms(positive, pairs.positive, self.reduction)
                + reduce_terms(negative, pairs.negative, self.reduction))
