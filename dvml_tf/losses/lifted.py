"""Song et al. 2016's lifted structured loss, computed by TF-Addons or the package's own
(backend.py)."""
from dvml_tf.losses.backend import StandardLoss, loss_functions, ordered_positive_pairs
from dvml_tf.losses.base import register_loss


@register_loss("lifted")
class LiftedStructLoss(StandardLoss):
    """Song et al.'s lifted structured loss on the raw embeddings (TF-Addons' default
    margin 1), over the ordered positive pairs."""

    def __init__(self, *, margin: float = 1.0, **kwargs):
        super().__init__(margin=margin, **kwargs)

    def mean(self, embeddings, labels):
        return loss_functions(self.backend).lifted_struct_loss(labels, embeddings,
                                                               margin=self.margin)

    def count(self, labels):
        return ordered_positive_pairs(labels)
