"""The package's metric losses as `keras.losses.Loss`, for one's own Keras 3 model:
`model.compile(optimizer=..., loss=dvml_tf.MetricLoss("triplet_semihard"))`, the model
outputting embeddings [B, D] and y holding integer labels [B].

Losses with variables of their own (margin_dws's boundary beta, the proxies of proxy_nca and
proxy_anchor) cannot be a Loss, which Keras does not train, nor can a cross-batch memory
(XBM), which must be filled in training only and a Loss cannot tell training from
evaluation: use `dvml_tf.MetricLossLayer`, a layer whose weights the model trains."""
from typing import Optional

import keras
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.metric import VARIABLE_LOSSES, make_metric_loss


@keras.saving.register_keras_serializable(package="dvml_tf")
class MetricLoss(keras.losses.Loss):
    """The named metric loss (dvml_tf.METRIC_LOSSES but those with variables) of
    embeddings `y_pred` [B, D] with labels `y_true` [B]; batches of P classes x K images,
    class-contiguous, for npairs and angular. `loss_options`: the loss's own settings
    (e.g. {"ms_alpha": 2, "ms_beta": 50, "ms_lambda": 1} for multi_similarity)."""

    def __init__(self, loss: str, margin: Optional[float] = None, images_per_class: int = 2,
                 npairs_l2_reg: float = 0.002, metric_reduction: str = "mean",
                 name: Optional[str] = None, loss_options: Optional[dict] = None, **kwargs):
        if loss in VARIABLE_LOSSES:
            raise UserError(f"{loss} trains variables of its own, which a keras Loss cannot "
                            f"hold: use dvml_tf.MetricLossLayer('{loss}')")
        super().__init__(name=name or loss, **kwargs)
        self._options = dict(loss=loss, margin=margin, images_per_class=images_per_class,
                             npairs_l2_reg=npairs_l2_reg, metric_reduction=metric_reduction,
                             loss_options=loss_options)
        self._fn = make_metric_loss(loss, margin, images_per_class, npairs_l2_reg,
                                    backend="own", reduction=metric_reduction,
                                    **(loss_options or {})).fn

    def call(self, y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        rows, count = y_pred.shape[0], labels.shape[0]
        if rows is not None and count is not None and rows != count:
            raise ValueError(f"y_true: {count} labels for {rows} embeddings (one per row)")
        return self._fn(tf.cast(y_pred, tf.float32), labels, None)

    def get_config(self):
        return {**super().get_config(), **self._options}
