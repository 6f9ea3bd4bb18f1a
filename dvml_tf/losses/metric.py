"""The metric losses Lm of L3 and L4 (Lin et al. 2018, eqs. 2-4), by name: every loss
class registered (base.py) by importing its module here, and the by-name factory whose
settings are the command line's flags.

Batches are P classes x K images, class-contiguous. Each loss is one module of losses/
with one class (triplet.py holds the two triplet rules); adding one is that module and
its import below (docs/ARCHITECTURE.md).
"""
from typing import Any, Mapping, Union

from dvml_tf.errors import UserError
from dvml_tf.losses import (  # noqa: F401  (each registers its loss)
    angular,
    circle,
    contrastive,
    lifted,
    margin_dws,
    multi_similarity,
    npairs,
    proxy_anchor,
    proxy_nca,
    triplet,
)
from dvml_tf.losses.base import LOSS_CLASSES, BaseMetricLoss

METRIC_LOSSES = tuple(LOSS_CLASSES)
# The losses with trainable variables of their own; those with one proxy per class.
VARIABLE_LOSSES = tuple(name for name, cls in LOSS_CLASSES.items() if cls.trains_variables)
PROXY_LOSSES = tuple(name for name, cls in LOSS_CLASSES.items() if cls.has_proxies)
# The losses that can pair the batch with a cross-batch memory (--cross_batch_memory).
MEMORY_LOSSES = tuple(name for name, cls in LOSS_CLASSES.items() if cls.pairs_with_memory)
# Every by-name setting (flag) of some loss.
ALL_SETTINGS = tuple(dict.fromkeys(setting for cls in LOSS_CLASSES.values()
                                   for setting in cls.SETTINGS))


def loss_class(name: str, argument: str = "metric_loss") -> type:
    """The class registered as `name` (a UserError naming `argument` if none is)."""
    if name not in LOSS_CLASSES:
        raise UserError(f"{argument}={name!r} is unknown; choose one of "
                        f"{', '.join(METRIC_LOSSES)}")
    return LOSS_CLASSES[name]


def settings_of(name: str, values: Mapping[str, Any]) -> dict:
    """The by-name settings (flags) of `values` that the loss `name` has; a None (a flag
    left unset, as --margin) is left out, so the loss's own default holds."""
    return {setting: values[setting] for setting in loss_class(name).SETTINGS
            if values.get(setting) is not None}


def check_loss_settings(name: str, settings: Mapping[str, Any], prefix: str = "") -> None:
    """Raises UserError (TypeError for a wrong type), naming the setting as `prefix` +
    its flag, for by-name settings that no run can use: a name that is no loss's setting,
    a scale not positive, a margin negative, a number not finite. A setting of the loss
    `name` is checked as it reads it, one of other losses as the first that has it."""
    cls = loss_class(name, prefix + "metric_loss")
    for setting, value in settings.items():
        if setting not in ALL_SETTINGS:
            raise UserError(f"{prefix}{setting}: no loss has such a setting (they are "
                            f"{', '.join(ALL_SETTINGS)})")
        check = (cls.SETTINGS.get(setting) or _first_declaring(setting))[1]
        check(prefix + setting, value)


def _first_declaring(setting: str) -> tuple:
    return next(cls.SETTINGS[setting] for cls in LOSS_CLASSES.values()
                if setting in cls.SETTINGS)


def check_cross_batch_memory(name: str, size: int, prefix: str = "") -> None:
    """A memory size of 0 (none), or a positive one for a loss that pairs with it."""
    if size < 0:
        raise UserError(f"{prefix}cross_batch_memory={size} must be 0 or positive")
    if size and name not in MEMORY_LOSSES:
        raise UserError(f"{prefix}cross_batch_memory works with {prefix}metric_loss="
                        f"{' or '.join(MEMORY_LOSSES)}, not {name}")


def loss_object(loss: Union[str, BaseMetricLoss], settings: Mapping[str, Any]
                ) -> BaseMetricLoss:
    """`loss` itself when it is a loss object (no settings beside it), or the loss
    registered under that name built from its by-name `settings`; TypeError otherwise."""
    if isinstance(loss, BaseMetricLoss):
        if settings:
            raise UserError(f"settings {', '.join(settings)} go to the loss's own class, "
                            "not beside a loss object")
        return loss
    if isinstance(loss, str):
        return make_metric_loss(loss, **settings)
    raise TypeError(f"loss={loss!r}: a name of dvml_tf.METRIC_LOSSES or a dvml_tf.losses "
                    "loss object")


def make_metric_loss(name: str, **settings: Any) -> BaseMetricLoss:
    """The loss registered as `name`, from its by-name settings (the command line's flags:
    margin, metric_reduction, metric_loss_backend, images_per_class, npairs_l2_reg,
    num_proxies, embedding_dim, ms_alpha, ms_beta, ms_lambda, proxy_anchor_alpha,
    proxy_lr_multiplier, circle_gamma; a None is the loss's default, and a setting of
    other losses only is left unused, as on the command line). "mean" reduction unless
    metric_reduction says otherwise."""
    settings = {setting: value for setting, value in settings.items() if value is not None}
    check_loss_settings(name, settings)
    cls = LOSS_CLASSES[name]
    return cls(**{cls.SETTINGS[setting][0]: value for setting, value in settings.items()
                  if setting in cls.SETTINGS})

