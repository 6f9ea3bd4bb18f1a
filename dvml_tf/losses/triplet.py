"""The triplet losses of the paper's eq. 2 (Triplet1): FaceNet's semi-hard negatives and
Hermans et al.'s batch-hard triplet, on squared L2 distances of unit vectors (TF-Addons'
default is the non-squared distance), computed by TF-Addons or the package's own
(backend.py)."""
import tensorflow as tf

from dvml_tf.losses.backend import StandardLoss, loss_functions, ordered_positive_pairs
from dvml_tf.losses.base import register_loss
from dvml_tf.losses.pairs import unit


@register_loss("triplet_semihard")
class TripletSemihardLoss(StandardLoss):
    """Over the ordered positive pairs, each with its semi-hard negative."""

    def mean(self, embeddings, labels):
        return loss_functions(self.backend).triplet_semihard_loss(
            labels, unit(embeddings), margin=self.margin, distance_metric="squared-L2")

    def count(self, labels):
        return ordered_positive_pairs(labels)


@register_loss("triplet_hard")
class TripletHardLoss(StandardLoss):
    """Over the anchors, each with its farthest positive and closest negative."""

    def mean(self, embeddings, labels):
        return loss_functions(self.backend).triplet_hard_loss(
            labels, unit(embeddings), margin=self.margin, distance_metric="squared-L2")

    def count(self, labels):
        return tf.size(labels)
