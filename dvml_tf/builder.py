"""Builds the DVML model, its optimizer and its checkpoint from a RunConfig."""
import os

import tensorflow as tf
from tensorflow import keras

from dvml_tf.data.pipeline import ImageSizes
from dvml_tf.errors import UserError, first_line
from dvml_tf.losses import make_metric_loss
from dvml_tf.models.backbones import build_backbone
from dvml_tf.models.dvml import DVMLSettings, build_dvml_model

CHECKPOINT_SUBDIR = "checkpoints"


def image_sizes(config, training=True):
    return ImageSizes(config.resize_size, config.image_size, config.random_flip and training)


def build_model(config, strategy=None):
    """A compiled DVMLModel, built under `strategy`, optimizer variables created."""
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(config.mixed_precision)
    with (strategy or tf.distribute.get_strategy()).scope():
        return _build_model(config)


def _build_model(config):
    backbone = build_backbone(config.backbone, config.image_size, config.backbone_weights)
    metric_loss = make_metric_loss(config.metric_loss, config.margin, config.images_per_class,
                                   config.npairs_l2_reg)
    settings = DVMLSettings(
        dvml=config.dvml,
        num_samples=config.num_samples,
        synthesized_in_metric=config.synthesized_in_metric,
        phase2_reconstruction_trains=config.phase2_reconstruction_trains,
        phase1_steps=config.phase1_steps,
        phase1_lambdas=tuple(config.phase1_lambdas),
        phase2_lambdas=tuple(config.phase2_lambdas),
        seed=config.seed,
    )
    model = build_dvml_model(backbone, config.embedding_dim, metric_loss, settings,
                             config.decoder_hidden)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return model


def checkpoint_manager(model, model_dir, keep=5):
    """Checkpoints in <model_dir>/checkpoints; written atomically, the newest `keep` kept."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    return tf.train.CheckpointManager(
        checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR), max_to_keep=keep
    )


def restore_latest(manager):
    """Restores the newest checkpoint, if any; returns its path or None."""
    path = manager.latest_checkpoint
    if path:
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, KeyError, tf.errors.OpError) as error:
            raise UserError(f"{path} does not match this model (trained with other settings "
                            f"or an older dvml_tf): {first_line(error)}") from None
    return path
