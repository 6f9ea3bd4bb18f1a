"""Flags made from RunConfig's fields (dvml_tf/config.py): one per setting, with the
field's type, default, help and choices, so that a setting is defined in one place."""
import dataclasses
import typing
from typing import Iterable, Optional, Sequence

from absl import flags

from dvml_tf.config import DATASET_DEFAULTS, SETTING_TYPES, SETTINGS, RunConfig, resolve_config
from dvml_tf.errors import UserError

FLAGS = flags.FLAGS


def _help(field: dataclasses.Field) -> str:
    """The setting's help, and the datasets that give it another default."""
    others = [f"--dataset={dataset}: {_shown(values[field.name])}"
              for dataset, values in DATASET_DEFAULTS.items() if field.name in values]
    return field.metadata["help"] + (f" (default with {'; '.join(others)})" if others else "")


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _value_type(annotation) -> type:
    """int, float, bool, str or tuple: the annotation without Optional."""
    if typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return typing.get_origin(annotation) or annotation


def define_flags(flag_values: flags.FlagValues = FLAGS,
                 names: Optional[Iterable[str]] = None) -> None:
    """One flag per RunConfig field (or per field in `names`): its type, default, help and
    choices."""
    names = set(SETTINGS if names is None else names)
    for field in dataclasses.fields(RunConfig):
        if field.name not in names:
            continue
        kind, choices = _value_type(SETTING_TYPES[field.name]), field.metadata["choices"]
        args = dict(name=field.name, help=_help(field), flag_values=flag_values)
        if choices:
            flags.DEFINE_enum(default=field.default, enum_values=choices, **args)
        elif kind is bool:
            flags.DEFINE_boolean(default=field.default, **args)
        elif kind is int:
            flags.DEFINE_integer(default=field.default, **args)
        elif kind is float:
            flags.DEFINE_float(default=field.default, **args)
        elif kind is str:
            flags.DEFINE_string(default=field.default, **args)
        else:  # a tuple of numbers
            flags.DEFINE_list(default=[str(v) for v in field.default], **args)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> RunConfig:
    """The RunConfig of the flags the user set (present); the rest take their defaults."""
    chosen = {field.name: flag_values[field.name].value for field in dataclasses.fields(RunConfig)
              if flag_values[field.name].present}
    return resolve_config(chosen)


def parse_config(argv: Sequence[str]) -> RunConfig:
    """The RunConfig of command-line arguments, parsed in-process on flags of their own;
    a bad flag raises UserError."""
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    try:
        flag_values(["dvml_tf.main", *argv])
    except flags.Error as error:
        raise UserError(str(error)) from None
    return config_from_flags(flag_values)


