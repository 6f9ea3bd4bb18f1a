"""Which implementation of the standard metric losses training calls: TF-Addons' where it
imports (TensorFlow 2.15, the design's reference), the package's own (standard.py)
elsewhere, or the one --metric_loss_backend names; and StandardLoss, the base of the
losses TF-Addons provided (triplet.py, npairs.py, lifted.py, contrastive.py)."""
import functools
import warnings
from types import ModuleType

import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.arguments import non_negative, one_of
from dvml_tf.losses.base import REDUCTION_SETTING, BaseMetricLoss
from dvml_tf.stack import REFERENCE_INSTALL

BACKENDS = ("auto", "tfa", "own")


@functools.cache
def tfa_losses() -> ModuleType:
    """tensorflow_addons.losses, or None where TF-Addons does not import (not installed,
    or TensorFlow >= 2.16, whose Keras it cannot load)."""
    try:
        with warnings.catch_warnings():
            # TF-Addons 0.23.0 (its last release) announces its end of life on import.
            warnings.filterwarnings("ignore", message=r"[\s\S]*TensorFlow Addons \(TFA\)")
            import tensorflow_addons as tfa
    except Exception:  # ImportError, or what a Keras mismatch raises inside it
        return None
    return tfa.losses


def check_backend(backend: str, name: str = "metric_loss_backend") -> str:
    """`backend`, one of BACKENDS that can run here (a UserError naming `name` if not)."""
    one_of(BACKENDS)(name, backend)
    if backend == "tfa" and tfa_losses() is None:
        raise UserError(f"{name}=tfa: TF-Addons does not import with TensorFlow "
                        f"{tf.__version__}; use {name}=own, or the reference stack: "
                        f"{REFERENCE_INSTALL}")
    return backend


def loss_functions(backend: str) -> ModuleType:
    """The module whose triplet_semihard_loss, triplet_hard_loss, npairs_loss,
    lifted_struct_loss and contrastive_loss training calls."""
    check_backend(backend)
    if backend == "own" or (backend == "auto" and tfa_losses() is None):
        from dvml_tf.losses import standard

        return standard
    return tfa_losses()


BACKEND_SETTING = {"metric_loss_backend": ("backend", lambda name, value: check_backend(
    value, name))}


class StandardLoss(BaseMetricLoss):
    """A loss TF-Addons provided, of its mean over its terms; "sum" is that mean times
    the number of terms (`count`)."""

    SETTINGS = {"margin": ("margin", non_negative), **BACKEND_SETTING, **REDUCTION_SETTING}

    def __init__(self, *, margin: float = 0.2, backend: str = "auto",
                 reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(margin=margin, backend=backend, reduction=reduction)

    def mean(self, embeddings: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def count(self, labels: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def loss(self, embeddings, labels, seed=None):
        mean = self.mean(embeddings, labels)
        if self.reduction == "mean":
            return mean
        return mean * tf.cast(self.count(labels), tf.float32)


def ordered_positive_pairs(labels: tf.Tensor) -> tf.Tensor:
    """The number of ordered pairs (i, j), i != j, of one class."""
    same = tf.equal(labels[:, None], labels[None, :])
    return tf.reduce_sum(tf.cast(same, tf.int32)) - tf.size(labels)
