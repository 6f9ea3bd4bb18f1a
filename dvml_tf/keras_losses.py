"""The package's metric losses as `keras.losses.Loss`, for one's own Keras 3 model:
`model.compile(optimizer=..., loss=dvml_tf.MetricLoss("triplet_semihard"))`, the model
outputting embeddings [B, D] and y holding integer labels [B].

Losses with variables of their own (margin_dws's boundary beta, the proxies of proxy_nca and
proxy_anchor) cannot be a Loss, which Keras does not train, nor can a cross-batch memory
(XBM), which must be filled in training only and a Loss cannot tell training from
evaluation: use `dvml_tf.MetricLossLayer`, a layer whose weights the model trains."""
from typing import Optional, Union

import keras
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.base import BaseMetricLoss
from dvml_tf.losses.metric import loss_object


@keras.saving.register_keras_serializable(package="dvml_tf")
class MetricLoss(keras.losses.Loss):
    """A metric loss of embeddings `y_pred` [B, D] with labels `y_true` [B]: a name of
    dvml_tf.METRIC_LOSSES with its by-name `settings` (the command line's flags, e.g.
    MetricLoss("multi_similarity", ms_alpha=2, margin=0.1)), or a loss object
    (MetricLoss(dvml_tf.losses.MultiSimilarityLoss(alpha=2))), but not one with variables.
    Batches of P classes x K images, class-contiguous, for npairs and angular. By name,
    the standard losses are the package's own (metric_loss_backend="own")."""

    def __init__(self, loss: Union[str, BaseMetricLoss], name: Optional[str] = None,
                 reduction: str = "sum_over_batch_size", dtype=None, **settings):
        if isinstance(loss, str):
            settings = {"metric_loss_backend": "own", **settings}
        loss = loss_object(loss, settings)
        if loss.trains_variables:
            raise UserError(f"{loss.registered_name} trains variables of its own, which a "
                            f"keras Loss cannot hold: use dvml_tf.MetricLossLayer("
                            f"'{loss.registered_name}')")
        super().__init__(name=name or loss.registered_name, reduction=reduction, dtype=dtype)
        self.metric = loss

    def call(self, y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        rows, count = y_pred.shape[0], labels.shape[0]
        if rows is not None and count is not None and rows != count:
            raise ValueError(f"y_true: {count} labels for {rows} embeddings (one per row)")
        return self.metric.loss(tf.cast(y_pred, tf.float32), labels)

    def get_config(self):
        return {**super().get_config(), "loss": keras.saving.serialize_keras_object(self.metric)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("loss")), **config)
