"""A metric loss as a Keras 3 layer, so that its own variables (margin + DWS's boundary β,
the proxies of Proxy-NCA and Proxy-Anchor, the cross-batch memory) are Keras weights that
the model tracks, checkpoints and trains: Keras 3 trains only its own variables, never a
raw tf.Variable."""
from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.cross_batch_memory import CrossBatchMemory
from dvml_tf.losses.metric import check_loss_settings, make_metric_loss


@keras.saving.register_keras_serializable(package="dvml_tf")
class MetricLossLayer(keras.layers.Layer):
    """The named metric loss of dvml_tf.losses.metric, its variables this layer's weights.

    In a model of one's own, call it on (embeddings, labels): it adds the loss to the
    model's losses (trained by `fit` with no compiled loss) and returns the embeddings.
    Batches are P classes x K images, class-contiguous. `cross_batch_memory` > 0 keeps the
    last that many training embeddings (XBM, for MEMORY_LOSSES) and pairs the batch with
    them from training step `cross_batch_memory_start` on; `loss_options` are the other
    keyword arguments of dvml_tf.losses.metric.make_metric_loss (ms_alpha, ...).
    """

    def __init__(self, loss: str, margin: Optional[float] = None, images_per_class: int = 2,
                 npairs_l2_reg: float = 0.002, reduction: str = "mean", num_proxies: int = 0,
                 embedding_dim: int = 0, backend: str = "auto", cross_batch_memory: int = 0,
                 cross_batch_memory_start: int = 0, loss_options: Optional[dict] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.loss_name = loss
        self._options = dict(margin=margin, images_per_class=images_per_class,
                             npairs_l2_reg=npairs_l2_reg, reduction=reduction,
                             num_proxies=num_proxies, embedding_dim=embedding_dim,
                             backend=backend, **(loss_options or {}))
        self._config = dict(loss=loss, **self._options, loss_options=loss_options,
                            cross_batch_memory=cross_batch_memory,
                            cross_batch_memory_start=cross_batch_memory_start)
        for name in loss_options or {}:
            self._config.pop(name)
        self._metric_loss = make_metric_loss(loss, make_variable=self._weight, **self._options)
        self.memory = None
        check_loss_settings(loss, cross_batch_memory=cross_batch_memory)
        if cross_batch_memory:
            if embedding_dim < 1:
                raise UserError("--cross_batch_memory needs --embedding_dim")
            self.memory = CrossBatchMemory(cross_batch_memory, embedding_dim, self._state)
            # Training calls of this layer: the step of a model of one's own.
            self.training_calls = self._state("training_calls", np.int64(0))
        self.memory_start = cross_batch_memory_start
        # Its weights exist now: Keras need not build it from a batch (a distributed batch
        # cannot be turned into the symbolic one Keras would build from).
        self.built = True

    def _weight(self, name: str, initial: np.ndarray) -> keras.Variable:
        return self.add_weight(name=name, shape=np.shape(initial), dtype="float32",
                               initializer=lambda shape, dtype: tf.constant(initial, dtype),
                               trainable=True)

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
        loss = self._metric_loss.fn(embeddings, labels, seed)
        if self.memory is None or step is None:
            return loss
        memory, memory_labels, filled, slot = self.memory.joined(
            *(joining or (embeddings, labels)))
        ignored = self.memory.pairs_to_ignore(filled, slot, own_rows=joining is None)
        memory_loss = self._metric_loss.memory_fn(embeddings, labels, memory, memory_labels,
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

    def get_config(self):
        return {**super().get_config(), **self._config}
