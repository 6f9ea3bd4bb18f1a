"""What every metric loss is: a registered, serializable Keras layer with named, checked
parameters (its own trained variables, a proxy table, are its weights), computing
Lm(embeddings [B, D], labels [B], seed [2]) -> scalar on P x K batches, class-contiguous.

A loss declares SETTINGS, {flag: (parameter, check)}: its by-name settings as the command
line names them (`ms_alpha`), the class's parameter each sets (`alpha`), and the check both
names go through. Pair-based losses (PairLoss) compute their terms from one pair view
(pairs.py) of the batch, or of the batch against a cross-batch memory, and reduce them
with the one reducer (reduction.py).
"""
from typing import Callable, ClassVar, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.errors import flag
from dvml_tf.losses.arguments import one_of
from dvml_tf.losses.pairs import PairView, batch_pairs, memory_pairs
from dvml_tf.losses.reduction import REDUCTIONS

# name -> class, in the order registered; losses/metric.py imports every loss module.
LOSS_CLASSES: Dict[str, type] = {}
REDUCTION_SETTING = {"metric_reduction": ("reduction", one_of(REDUCTIONS))}


def register_loss(name: str) -> Callable[[type], type]:
    """Registers a loss class under `name` (--metric_loss=name) and with Keras (.keras
    files name it dvml_tf>ClassName)."""

    def register(cls: type) -> type:
        cls.registered_name = name
        LOSS_CLASSES[name] = cls
        return keras.saving.register_keras_serializable(package="dvml_tf")(cls)

    return register


class BaseMetricLoss(keras.layers.Layer):
    """A metric loss; `loss(embeddings, labels, seed)` is its value. Called as a layer on
    (embeddings, labels) it returns the same value."""

    registered_name: ClassVar[str] = ""
    SETTINGS: ClassVar[Dict[str, Tuple[str, Callable]]] = REDUCTION_SETTING
    # Pairs the batch with a cross-batch memory (XBM): has memory_loss.
    pairs_with_memory: ClassVar[bool] = False
    # Trains variables of its own (its weights), which a keras Loss cannot hold.
    trains_variables: ClassVar[bool] = False
    # Holds one proxy per training class (needs num_classes and embedding_dim).
    has_proxies: ClassVar[bool] = False

    def __init__(self, name: Optional[str] = None, **kwargs):
        super().__init__(name=name or self.registered_name, **kwargs)
        # Its weights exist once made: Keras need not build it from a batch.
        self.built = True

    def _set(self, **values) -> None:
        """Checks each parameter (named as the class names it) and keeps it."""
        checks = dict(self.SETTINGS.values())
        for parameter, value in values.items():
            setattr(self, parameter, checks[parameter](parameter, value))

    def _trained_weight(self, name: str, initial: np.ndarray):
        return self.add_weight(name=name, shape=np.shape(initial), dtype="float32",
                               initializer=lambda shape, dtype: tf.constant(initial, dtype),
                               trainable=True)

    def loss(self, embeddings: tf.Tensor, labels: tf.Tensor,
             seed: Optional[tf.Tensor] = None) -> tf.Tensor:
        """Lm of `embeddings` [B, D] with `labels` [B]; `seed` [2] feeds losses that
        sample (stateless, so that resumed runs sample alike)."""
        raise NotImplementedError

    def call(self, embeddings, labels):
        return self.loss(tf.cast(embeddings, tf.float32), tf.cast(labels, tf.int32))

    def get_config(self) -> dict:
        return {**super().get_config(),
                **{parameter: getattr(self, parameter)
                   for parameter, _ in self.SETTINGS.values()}}


class PairLoss(BaseMetricLoss):
    """A loss of the pairs of one pair view: of the batch, or of the batch's anchors
    against a cross-batch memory (`memory_loss`)."""

    pairs_with_memory = True

    def of_pairs(self, pairs: PairView) -> tf.Tensor:
        """The reduced loss of the pairs in `pairs`."""
        raise NotImplementedError

    def loss(self, embeddings, labels, seed=None):
        return self.of_pairs(batch_pairs(embeddings, labels))

    def memory_loss(self, embeddings: tf.Tensor, labels: tf.Tensor, memory: tf.Tensor,
                    memory_labels: tf.Tensor, ignored: tf.Tensor) -> tf.Tensor:
        """The batch's anchors against the memory's rows [N, D]; `ignored` [B, N] marks
        the pairs that are none (an empty slot, an anchor's own row)."""
        return self.of_pairs(memory_pairs(embeddings, labels, memory, memory_labels, ignored))


def labels_with_a_proxy(labels: tf.Tensor, num_classes: int) -> tf.Tensor:
    """`labels`, each checked to index the proxy table [0, num_classes): a label beyond it
    would have no proxy and train nothing, silently (an error naming the table's size)."""
    with tf.control_dependencies([tf.debugging.assert_less(
            labels, tf.cast(num_classes, labels.dtype),
            message=f"a label is beyond the proxy table of {num_classes} (labels must be "
                    f"0 to {num_classes - 1}: num_classes / {flag('num_proxies')})"),
            tf.debugging.assert_non_negative(labels, message="a label is negative")]):
        return tf.identity(labels)
