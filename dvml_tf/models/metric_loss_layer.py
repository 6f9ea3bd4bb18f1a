"""A metric loss as a Keras 3 layer, so that its own variables (margin + DWS's boundary β,
Proxy-NCA's proxies) are Keras weights that the model tracks, checkpoints and trains:
Keras 3 trains only its own variables, never a raw tf.Variable."""
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.losses.metric import make_metric_loss


class MetricLossLayer(keras.layers.Layer):
    """The named metric loss of dvml_tf.losses.metric, its variables this layer's weights.

    In a model of one's own, call it on (embeddings, labels): it adds the loss to the
    model's losses (trained by `fit` with no compiled loss) and returns the embeddings.
    Batches are P classes x K images, class-contiguous.
    """

    def __init__(self, loss: str, margin: Optional[float] = None, images_per_class: int = 2,
                 npairs_l2_reg: float = 0.002, reduction: str = "mean", num_proxies: int = 0,
                 embedding_dim: int = 0, backend: str = "auto", **kwargs):
        super().__init__(**kwargs)
        self.loss_name = loss
        self._options = dict(margin=margin, images_per_class=images_per_class,
                             npairs_l2_reg=npairs_l2_reg, reduction=reduction,
                             num_proxies=num_proxies, embedding_dim=embedding_dim,
                             backend=backend)
        self._metric_loss = make_metric_loss(loss, make_variable=self._weight, **self._options)
        # Its weights exist now: Keras need not build it from a batch (a distributed batch
        # cannot be turned into the symbolic one Keras would build from).
        self.built = True

    def _weight(self, name: str, initial: np.ndarray) -> keras.Variable:
        return self.add_weight(name=name, shape=np.shape(initial), dtype="float32",
                               initializer=lambda shape, dtype: tf.constant(initial, dtype),
                               trainable=True)

    def compute(self, embeddings: tf.Tensor, labels: tf.Tensor,
                seed: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The loss of `embeddings` [B, D] with `labels` [B]; `seed` [2] feeds losses that
        sample (margin + DWS draws its negatives)."""
        return self._metric_loss.fn(tf.cast(embeddings, tf.float32), labels, seed)

    def call(self, embeddings, labels):
        self.add_loss(self.compute(embeddings, labels))
        return embeddings

    def get_config(self):
        return {**super().get_config(), "loss": self.loss_name, **self._options}
