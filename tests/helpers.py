"""Small models and data shared by the tests."""

import keras
import numpy as np

from dvml_tf.config import RunConfig
from dvml_tf.losses.metric import settings_of as loss_settings_of
from dvml_tf.models.backbones import build_backbone
from dvml_tf.models.dvml import DVMLSettings, build_dvml_model
from dvml_tf.models.metric_loss_layer import MetricLossLayer
from dvml_tf.training.build import dvml_settings


def settings_of(**changes) -> DVMLSettings:
    """The model's DVMLSettings of the default RunConfig with `changes` (its flat fields)."""
    config = RunConfig.of(**changes)
    return dvml_settings(config.model, config.training.seed)


def tiny_model(dvml=True, metric_loss="npairs", phase1_steps=0, num_samples=5, seed=0,
               images_per_class=2, metric_loss_backend="auto", variance_heads_init="random",
               cross_batch_memory=0, **settings):
    """A compiled DVML model on 16 px images with a small CNN; `settings` are RunConfig
    fields of DVMLSettings."""
    keras.utils.set_random_seed(seed)
    model = build_dvml_model(
        build_backbone("small_cnn", 16),
        embedding_dim=8,
        metric_loss=MetricLossLayer(metric_loss, embedding_dim=8,
                                    cross_batch_memory=cross_batch_memory,
                                    **loss_settings_of(metric_loss, dict(
                                        images_per_class=images_per_class,
                                        metric_loss_backend=metric_loss_backend,
                                        num_proxies=8))),
        settings=settings_of(dvml=dvml, num_samples=num_samples, phase1_steps=phase1_steps,
                             seed=seed, **settings),
        decoder_hidden=16,
        variance_heads_init=variance_heads_init,
    )
    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer, jit_compile=False)
    return model


def tiny_batch(classes=4, per_class=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(classes * per_class, 16, 16, 3)).astype(np.float32)
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    return images, labels
