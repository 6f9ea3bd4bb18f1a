"""The Keras classes of dvml_tf, registered with Keras's serialization (package "dvml_tf")
as their modules are imported: importing this module registers them all, so that
`keras.saving.load_model` reads a `.keras` file holding any of them in a fresh process:

    import dvml_tf.keras_objects
    model = keras.saving.load_model("model.keras")
"""
from dvml_tf.keras_losses import MetricLoss
from dvml_tf.losses.metric import LOSS_CLASSES
from dvml_tf.models.backbones import CaffeNormalization
from dvml_tf.models.dvml import DVMLModel
from dvml_tf.models.fused_batch_norm import FusedBatchNormalization
from dvml_tf.models.heads import SoftBound
from dvml_tf.models.metric_loss_layer import MetricLossLayer

REGISTERED = (MetricLoss, MetricLossLayer, DVMLModel, SoftBound, CaffeNormalization,
              FusedBatchNormalization, *LOSS_CLASSES.values())
