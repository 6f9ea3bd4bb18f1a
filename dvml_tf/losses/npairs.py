"""Sohn 2016's N-pair loss on the first two images of each class in a P x K batch,
computed by TF-Addons or the package's own (backend.py), with Sohn's L2 penalty of the
embeddings."""
import tensorflow as tf

from dvml_tf.losses.angular import IMAGES_PER_CLASS_SETTING, pairs_of
from dvml_tf.losses.arguments import non_negative
from dvml_tf.losses.backend import BACKEND_SETTING, StandardLoss, loss_functions
from dvml_tf.losses.base import REDUCTION_SETTING, BaseMetricLoss, register_loss


@register_loss("npairs")
class NPairsLoss(StandardLoss):
    """Averaged over the classes' anchors ("mean", eq. 3 as printed) or added; `l2_reg`
    weighs the embeddings' mean squared norm (a quarter each for anchors and positives)."""

    SETTINGS = {**IMAGES_PER_CLASS_SETTING, "npairs_l2_reg": ("l2_reg", non_negative),
                **BACKEND_SETTING, **REDUCTION_SETTING}

    def __init__(self, *, images_per_class: int = 2, l2_reg: float = 0.002,
                 backend: str = "auto", reduction: str = "mean", **kwargs):
        BaseMetricLoss.__init__(self, **kwargs)  # StandardLoss's margin is none of N-pair's
        self._set(images_per_class=images_per_class, l2_reg=l2_reg, backend=backend,
                  reduction=reduction)

    def mean(self, embeddings, labels):
        anchors, positives, anchor_labels = pairs_of(embeddings, labels,
                                                     self.images_per_class)
        similarity = tf.matmul(anchors, positives, transpose_b=True)
        penalty = 0.25 * self.l2_reg * (tf.reduce_mean(tf.reduce_sum(tf.square(anchors), 1))
                                        + tf.reduce_mean(tf.reduce_sum(tf.square(positives), 1)))
        return loss_functions(self.backend).npairs_loss(anchor_labels, similarity) + penalty

    def count(self, labels):
        return tf.size(labels) // self.images_per_class
