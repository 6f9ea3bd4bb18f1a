"""A metric loss in a model: the layer that adds the loss to a model of one's own, and
holds the loss (its variables, margin + DWS's boundary β or a proxy table, are the loss
object's weights) with its cross-batch memory, whose rows are this layer's weights, so
that the model tracks, checkpoints and trains them all."""
from typing import Optional, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.losses.arguments import whole
from dvml_tf.losses.base import BaseMetricLoss
from dvml_tf.losses.cross_batch_memory import CrossBatchMemory
from dvml_tf.losses.metric import check_cross_batch_memory, loss_class, loss_object


@keras.saving.register_keras_serializable(package="dvml_tf")
class MetricLossLayer(keras.layers.Layer):
    """A metric loss (a name of dvml_tf.METRIC_LOSSES with its by-name `settings`, or a
    loss object such as dvml_tf.losses.MultiSimilarityLoss(alpha=2)), its variables this
    layer's weights.

    In a model of one's own, call it on (embeddings, labels): it adds the loss to the
    model's losses (trained by `fit` with no compiled loss) and returns the embeddings.
    Batches are P classes x K images, class-contiguous. `cross_batch_memory` > 0 keeps the
    last that many training embeddings of `embedding_dim` (XBM, for MEMORY_LOSSES) and
    pairs the batch with them from training step `cross_batch_memory_start` on.
    """

    def __init__(self, loss: Union[str, BaseMetricLoss], *, cross_batch_memory: int = 0,
                 cross_batch_memory_start: int = 0, embedding_dim: int = 0,
                 name: Optional[str] = None, trainable: bool = True,
                 dtype: Optional[str] = None, **settings):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        if isinstance(loss, str) and "embedding_dim" in loss_class(loss, "loss").SETTINGS:
            settings["embedding_dim"] = embedding_dim
        loss = loss_object(loss, settings)
        self.metric = loss
        self.loss_name = loss.registered_name
        check_cross_batch_memory(self.loss_name, cross_batch_memory)
        self._config = dict(cross_batch_memory=cross_batch_memory,
                            cross_batch_memory_start=cross_batch_memory_start,
                            embedding_dim=embedding_dim)
        self.memory = None
        if cross_batch_memory:
            whole(1)("embedding_dim (the cross-batch memory's rows)", embedding_dim)
            self.memory = CrossBatchMemory(cross_batch_memory, embedding_dim, self._state)
            # Training calls of this layer: the step of a model of one's own.
            self.training_calls = self._state("training_calls", np.int64(0))
        self.memory_start = cross_batch_memory_start
        # Its weights exist now: Keras need not build it from a batch (a distributed batch
        # cannot be turned into the symbolic one Keras would build from).
        self.built = True

    def _state(self, name: str, initial: np.ndarray) -> keras.Variable:
        """A variable that is not trained; every replica holds the first replica's value."""
        return self.add_weight(name=name, shape=np.shape(initial), dtype=str(initial.dtype),
                               initializer=lambda shape, dtype: tf.constant(initial, dtype),
                               trainable=False, aggregation="only_first_replica")

    def memory_on(self, step: tf.Tensor) -> tf.Tensor:
        """Whether training step `step` uses (and fills) the cross-batch memory."""
        return tf.cast(step, tf.int64) >= self.memory_start

    def compute(self, embeddings: tf.Tensor, labels: tf.Tensor,
                seed: Optional[tf.Tensor] = None, step: Optional[tf.Tensor] = None,
                joining: Optional[Tuple[tf.Tensor, tf.Tensor]] = None) -> tf.Tensor:
        """The loss of `embeddings` [B, D] with `labels` [B]; `seed` [2] feeds losses that
        sample (margin + DWS draws its negatives); at training step `step`, with a memory
        switched on, plus the batch's term against the memory (XBM) as it is with this
        step's rows in it: `joining` (embeddings, labels), by default the batch itself,
        whose own rows are then no pairs of themselves."""
        embeddings, labels = tf.cast(embeddings, tf.float32), tf.cast(labels, tf.int32)
        loss = self.metric.loss(embeddings, labels, seed)
        if self.memory is None or step is None:
            return loss
        memory, memory_labels, filled, slot = self.memory.joined(
            *(joining or (embeddings, labels)))
        ignored = self.memory.pairs_to_ignore(filled, slot, own_rows=joining is None)
        memory_loss = self.metric.memory_loss(embeddings, labels, memory, memory_labels,
                                              ignored)
        return loss + tf.where(self.memory_on(step), memory_loss, 0.0)

    def remember(self, embeddings: tf.Tensor, labels: tf.Tensor, step: tf.Tensor,
                 when: tf.Tensor = True) -> None:
        """After training step `step`'s loss: adds its embeddings to the memory where the
        memory is on and `when` holds (a skipped step's are not kept)."""
        if self.memory is not None:
            self.memory.enqueue(embeddings, labels, tf.logical_and(self.memory_on(step), when))

    def call(self, embeddings, labels, training=None):
        step = None if self.memory is None else self.training_calls.value
        self.add_loss(self.compute(embeddings, labels, step=step))
        if training and self.memory is not None:
            self.remember(embeddings, labels, step)
            self.training_calls.assign_add(1)
        return embeddings

    def settings(self) -> dict:
        """The loss's parameters and the memory's settings, without Keras's own keys."""
        loss = {key: value for key, value in self.metric.get_config().items()
                if key not in ("name", "trainable", "dtype")}
        return {**loss, **self._config}

    def get_config(self):
        return {**super().get_config(), **self._config,
                "loss": keras.saving.serialize_keras_object(self.metric)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("loss")), **config)

