"""Where a RunConfig becomes a compiled DVMLModel (`build_model`), and the Python API's
`dvml_model`: a DVML model around any Keras backbone, the paper's settings by default."""
import contextlib
import dataclasses
from typing import Iterator, Optional, Union

import keras
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.config_parts import LossSettings, ModelSettings, Part, TrainingSettings
from dvml_tf.losses.base import BaseMetricLoss
from dvml_tf.losses.metric import PROXY_LOSSES
from dvml_tf.models.backbone_split import split_backbone
from dvml_tf.models.backbones import build_backbone
from dvml_tf.models.dvml import DVMLModel, DVMLSettings, build_dvml_model
from dvml_tf.models.metric_loss_layer import MetricLossLayer


def dvml_settings(model: ModelSettings, seed: int) -> DVMLSettings:
    """What the DVML model combines its losses by (models/dvml.py), with the run's seed."""
    return DVMLSettings(
        dvml=model.dvml, reconstruction=model.reconstruction, num_samples=model.num_samples,
        synthesized_in_metric=model.synthesized_in_metric, kl_free_bits=model.kl_free_bits,
        normalize_synthesized=model.normalize_synthesized,
        phase2_reconstruction_trains=model.phase2_reconstruction_trains,
        phase1_steps=model.phase1_steps, phase1_lambdas=tuple(model.phase1_lambdas),
        phase2_lambdas=tuple(model.phase2_lambdas), seed=seed)


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
    keras.utils.set_random_seed(config.training.seed)
    with precision_policy(config.training.mixed_precision), \
            (strategy or tf.distribute.get_strategy()).scope():
        model = _network(config, config.model.backbone_weights)
        optimizer = keras.optimizers.Adam(config.training.learning_rate)
        if config.training.mixed_precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, jit_compile=config.training.jit_compile)
    return model


def build_network_to_restore(config: RunConfig,
                             strategy: Optional[tf.distribute.Strategy] = None) -> DVMLModel:
    """The run's DVMLModel with fresh weights for a checkpoint to restore, for inference:
    the process's random seed is left alone, no optimizer is made and no backbone weights
    file is read (the checkpoint holds the trained weights)."""
    with precision_policy(config.training.mixed_precision), \
            (strategy or tf.distribute.get_strategy()).scope():
        return _network(config, "none")


def _network(config: RunConfig, backbone_weights: str) -> DVMLModel:
    """The run's DVMLModel (backbone with `backbone_weights`, heads, decoder, loss layer)."""
    backbone = build_backbone(config.model.backbone, config.data.image_size, backbone_weights,
                              config.model.hub_handle)
    # A frozen backbone (trainable=False) also runs its batch norm in inference mode.
    backbone.trainable = not config.model.freeze_backbone
    model = config.model
    top = split_backbone(backbone, model.fine_tune_from).top if model.fine_tune_from else None
    metric_loss = MetricLossLayer(
        config.loss.metric_loss, cross_batch_memory=config.loss.cross_batch_memory,
        cross_batch_memory_start=config.loss.cross_batch_memory_start,
        embedding_dim=model.embedding_dim, name="metric_loss",
        **config.loss.by_name(config.data.images_per_class))
    return build_dvml_model(backbone, model.embedding_dim, metric_loss,
                            dvml_settings(model, config.training.seed), model.decoder_hidden,
                            model.variance_heads_init, top)


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


# dvml_model's settings that go to the loss layer's cross-batch memory, whatever the loss.
MEMORY_SETTINGS = ("cross_batch_memory", "cross_batch_memory_start")


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
    label) and the fields of dvml_tf.config_parts.LossSettings among `settings` (ms_alpha,
    proxy_lr_multiplier, metric_reduction, which is "sum" as on the command line: the
    DVML paper's eqs. 2-4). The other `settings` are the fields of ModelSettings (DVML's:
    phase1_steps, phase1_lambdas, phase2_lambdas, num_samples, reconstruction,
    decoder_hidden, ...), cross_batch_memory, cross_batch_memory_start and seed; the
    defaults are the papers'. A bad one is a ValueError or TypeError naming it.
    """
    _check_backbone(backbone)
    model_fields, loss_fields = _field_names(ModelSettings), _field_names(LossSettings)
    unknown = sorted(set(settings) - model_fields - loss_fields - {"seed"})
    if unknown:
        raise TypeError(f"dvml_model() got an unexpected setting {unknown[0]!r}")
    model = ModelSettings(dvml=dvml, embedding_dim=embedding_dim,
                          **{name: settings.pop(name) for name in model_fields & set(settings)})
    seed = settings.pop("seed", TrainingSettings.seed)
    _check_part(model)
    memory = {name: settings.pop(name) for name in MEMORY_SETTINGS if name in settings}
    if isinstance(metric_loss, str):
        if metric_loss in PROXY_LOSSES and (not isinstance(num_classes, int)
                                            or isinstance(num_classes, bool) or num_classes < 1):
            raise ValueError(f"num_classes={num_classes!r}: metric_loss={metric_loss} needs "
                             "one proxy per training class (labels 0 to num_classes - 1)")
        loss = LossSettings(metric_loss=metric_loss, margin=margin, num_proxies=num_classes,
                            **memory, **settings)
        _check_part(loss)
        layer = MetricLossLayer(metric_loss, **memory, embedding_dim=embedding_dim,
                                name="metric_loss", **loss.by_name(images_per_class))
    else:
        if margin is not None or settings:
            raise ValueError(f"{'margin' if margin is not None else sorted(settings)[0]}: a "
                             "loss object's settings go to its own class, not beside it")
        layer = MetricLossLayer(metric_loss, **memory, embedding_dim=embedding_dim,
                                name="metric_loss")
    return build_dvml_model(backbone, embedding_dim, layer, dvml_settings(model, seed),
                            model.decoder_hidden, model.variance_heads_init)


def _field_names(part: type) -> set:
    return {field.name for field in dataclasses.fields(part)}


def _check_part(part: Part) -> None:
    """A part built from Python arguments, checked under their names."""
    part.check_types()
    part.check()
