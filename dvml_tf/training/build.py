"""Where a RunConfig becomes a compiled DVMLModel (`build_model`), and the Python API's
`dvml_model`: a DVML model around any Keras backbone, the paper's settings by default."""
import contextlib
import dataclasses
from typing import Iterator, Optional, Union

import keras
import tensorflow as tf

from dvml_tf.config import RunConfig, loss_settings
from dvml_tf.losses.base import BaseMetricLoss
from dvml_tf.losses.metric import ALL_SETTINGS, PROXY_LOSSES, check_loss_settings, settings_of
from dvml_tf.models.backbone_split import split_backbone
from dvml_tf.models.backbones import build_backbone
from dvml_tf.models.dvml import DVMLModel, DVMLSettings, build_dvml_model
from dvml_tf.models.metric_loss_layer import MetricLossLayer


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
        model = _network(config, config.backbone_weights)
        optimizer = keras.optimizers.Adam(config.learning_rate)
        if config.mixed_precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    return model


def build_network_to_restore(config: RunConfig,
                             strategy: Optional[tf.distribute.Strategy] = None) -> DVMLModel:
    """The run's DVMLModel with fresh weights for a checkpoint to restore, for inference:
    the process's random seed is left alone, no optimizer is made and no backbone weights
    file is read (the checkpoint holds the trained weights)."""
    with precision_policy(config.mixed_precision), \
            (strategy or tf.distribute.get_strategy()).scope():
        return _network(config, "none")


def _network(config: RunConfig, backbone_weights: str) -> DVMLModel:
    """The run's DVMLModel (backbone with `backbone_weights`, heads, decoder, loss layer)."""
    backbone = build_backbone(config.backbone, config.image_size, backbone_weights,
                              config.hub_handle)
    # A frozen backbone (trainable=False) also runs its batch norm in inference mode.
    backbone.trainable = not config.freeze_backbone
    top = (split_backbone(backbone, config.fine_tune_from).top if config.fine_tune_from
           else None)
    # The loss layer gives the proxy losses their embedding_dim; one proxy at least, where
    # the table's size (the training classes) is not known yet.
    named = loss_settings(dataclasses.replace(config, num_proxies=max(config.num_proxies, 1)))
    named.pop("embedding_dim", None)
    metric_loss = MetricLossLayer(
        config.metric_loss, cross_batch_memory=config.cross_batch_memory,
        cross_batch_memory_start=config.cross_batch_memory_start,
        embedding_dim=config.embedding_dim, name="metric_loss", **named)
    return build_dvml_model(backbone, config.embedding_dim, metric_loss,
                            dvml_settings(config), config.decoder_hidden,
                            config.variance_heads_init, top)


def _check_backbone(backbone) -> None:
    """TypeError unless `backbone` is a built Keras model with one output [B, F]."""
    try:
        usable = (isinstance(backbone, keras.Model) and len(backbone.outputs) == 1
                  and len(backbone.output_shape) == 2)
    except (AttributeError, ValueError):  # not built
        usable = False
    if not usable:
        raise TypeError(f"backbone: a built keras.Model from images to features [B, F] "
                        f"(e.g. dvml_tf.backbone(...)), not {type(backbone).__name__}")


def dvml_model(backbone: keras.Model, embedding_dim: int = 128,
               metric_loss: Union[str, BaseMetricLoss] = "margin_dws", dvml: bool = True,
               images_per_class: int = 4, margin: Optional[float] = None,
               num_classes: int = 0, **settings) -> DVMLModel:
    """A DVMLModel: `backbone` (images -> pooled features [B, F]) -> encoder (z_I, mu,
    log sigma^2) -> decoder, trained by `fit` with the paper's four losses (dvml=False: the
    metric loss on z_I alone, the same network).

    Compile it with an optimizer only (`model.compile(optimizer=keras.optimizers.Adam())`),
    then `fit` it on P x K batches of (images, labels), e.g. from `dvml_tf.pk_batches`.
    `metric_loss` is a loss object (dvml_tf.losses.ProxyAnchorLoss(num_classes=98,
    embedding_dim=128), used as it is) or a name of dvml_tf.METRIC_LOSSES, built with
    `margin`, `images_per_class`, `num_classes` (the proxy losses' one proxy per training
    label) and the loss's by-name settings among `settings` (ms_alpha, proxy_lr_multiplier,
    ...), reduced by their sum as the command line's runs are (metric_reduction="sum",
    the DVML paper's eqs. 2-4). The other `settings` are RunConfig fields of DVML's
    settings (phase1_steps, phase1_lambdas, phase2_lambdas, num_samples, reconstruction,
    seed, decoder_hidden, cross_batch_memory, cross_batch_memory_start, ...); the
    defaults are the papers'.
    """
    _check_backbone(backbone)
    decoder_hidden = settings.pop("decoder_hidden", RunConfig.decoder_hidden)
    heads_init = settings.pop("variance_heads_init", RunConfig.variance_heads_init)
    memory = dict(cross_batch_memory=settings.pop("cross_batch_memory", 0),
                  cross_batch_memory_start=settings.pop("cross_batch_memory_start", 0),
                  embedding_dim=embedding_dim)
    if isinstance(metric_loss, str):
        if metric_loss in PROXY_LOSSES and (not isinstance(num_classes, int)
                                            or isinstance(num_classes, bool) or num_classes < 1):
            raise ValueError(f"num_classes={num_classes!r}: metric_loss={metric_loss} needs "
                             "one proxy per training class (labels 0 to num_classes - 1)")
        given = {setting: settings.pop(setting) for setting in ALL_SETTINGS
                 if setting in settings}
        given.update(margin=margin, images_per_class=images_per_class,
                     num_proxies=num_classes or None)
        given.setdefault("metric_reduction", RunConfig.metric_reduction)
        given = {setting: value for setting, value in given.items() if value is not None}
        check_loss_settings(metric_loss, given)
        named = settings_of(metric_loss, given)
        loss = MetricLossLayer(metric_loss, name="metric_loss", **memory, **named)
    else:
        if margin is not None or any(setting in settings for setting in ALL_SETTINGS):
            raise ValueError("margin and a loss's other settings go to the loss object's "
                             "own class, not beside it")
        loss = MetricLossLayer(metric_loss, name="metric_loss", **memory)
    config = dataclasses.replace(RunConfig(), dvml=dvml, embedding_dim=embedding_dim,
                                 images_per_class=images_per_class, **settings)
    return build_dvml_model(backbone, embedding_dim, loss, dvml_settings(config),
                            decoder_hidden, heads_init)
