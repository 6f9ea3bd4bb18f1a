"""Which implementation of the standard metric losses training calls: TF-Addons' where it
imports (TensorFlow 2.15, the design's reference), the package's own (standard.py)
elsewhere, or the one --metric_loss_backend names."""
import functools
import warnings
from types import ModuleType

from dvml_tf.errors import UserError
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


def check_backend(backend: str) -> None:
    """Raises UserError when `backend` cannot run here."""
    if backend == "tfa" and tfa_losses() is None:
        import tensorflow as tf

        raise UserError(f"--metric_loss_backend=tfa: TF-Addons does not import with "
                        f"TensorFlow {tf.__version__}; use --metric_loss_backend=own, or the "
                        f"reference stack: {REFERENCE_INSTALL}")


def loss_functions(backend: str) -> ModuleType:
    """The module whose triplet_semihard_loss, triplet_hard_loss, npairs_loss,
    lifted_struct_loss and contrastive_loss training calls."""
    check_backend(backend)
    if backend == "own" or (backend == "auto" and tfa_losses() is None):
        from dvml_tf.losses import standard

        return standard
    return tfa_losses()
