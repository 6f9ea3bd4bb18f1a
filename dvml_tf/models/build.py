"""The one place a RunConfig becomes a compiled DVMLModel."""
import contextlib
from typing import Iterator, Optional

import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.keras_api import keras
from dvml_tf.losses.metric import make_metric_loss
from dvml_tf.models.backbones import build_backbone
from dvml_tf.models.dvml import DVMLModel, DVMLSettings, build_dvml_model


def dvml_settings(config: RunConfig) -> DVMLSettings:
    return DVMLSettings(
        dvml=config.dvml,
        reconstruction=config.reconstruction,
        num_samples=config.num_samples,
        synthesized_in_metric=config.synthesized_in_metric,
        kl_free_bits=config.kl_free_bits,
        normalize_synthesized=config.normalize_synthesized,
        phase2_reconstruction_trains=config.phase2_reconstruction_trains,
        phase1_steps=config.phase1_steps,
        phase1_lambdas=tuple(config.phase1_lambdas),
        phase2_lambdas=tuple(config.phase2_lambdas),
        seed=config.seed,
    )


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to `name` ("none": float32) while layers are built;
    the previous policy afterwards, so that a later model in the process is unaffected."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32" if name == "none" else name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_model(config: RunConfig,
                strategy: Optional[tf.distribute.Strategy] = None) -> DVMLModel:
    """A compiled DVMLModel, built under `strategy`, optimizer variables created."""
    keras.utils.set_random_seed(config.seed)
    with precision_policy(config.mixed_precision), \
            (strategy or tf.distribute.get_strategy()).scope():
        backbone = build_backbone(config.backbone, config.image_size, config.backbone_weights,
                                  config.hub_handle)
        # A frozen backbone (trainable=False) also runs its batch norm in inference mode.
        backbone.trainable = not config.freeze_backbone
        metric_loss = make_metric_loss(
            config.metric_loss, config.margin, config.images_per_class, config.npairs_l2_reg,
            config.metric_loss_backend, config.metric_reduction, max(config.num_proxies, 1),
            config.embedding_dim)
        model = build_dvml_model(backbone, config.embedding_dim, metric_loss,
                                 dvml_settings(config), config.decoder_hidden,
                                 config.variance_heads_init)
        optimizer = keras.optimizers.Adam(config.learning_rate)
        if config.mixed_precision == "mixed_float16":
            optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return model
