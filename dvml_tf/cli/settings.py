"""Flags made from the fields of RunConfig's parts (dvml_tf/config_parts.py): one per
setting, with the field's type, default, help and choices, so that a setting is defined in
one place."""
import dataclasses
import typing
from typing import Dict, Iterable, List, Optional, Sequence

from absl import flags

from dvml_tf.config import (
    DATASET_DEFAULTS,
    SETTING_FIELDS,
    SETTING_TYPES,
    SETTINGS,
    RunConfig,
    resolve_config,
)
from dvml_tf.config_parts import DataSettings
from dvml_tf.data.datasets import DATASETS
from dvml_tf.errors import UserError

FLAGS = flags.FLAGS


BARE_RUN_DATASET = DataSettings.dataset  # what `python -m dvml_tf.main` alone trains on


def bare_run_default(field: dataclasses.Field):
    """The value a run with no flags uses: --help shows it as the default."""
    return DATASET_DEFAULTS[BARE_RUN_DATASET].get(field.name, field.default)


def _help(field: dataclasses.Field) -> str:
    """The setting's help, and the datasets whose default differs from the bare run's:
    ' (with --dataset=digits: 200; cub, cars, sop, folder: 500)'."""
    bare = bare_run_default(field)
    by_value: Dict[str, List[str]] = {}
    for dataset in DATASETS:
        value = DATASET_DEFAULTS.get(dataset, {}).get(field.name, field.default)
        if dataset != BARE_RUN_DATASET and value != bare:
            by_value.setdefault(_shown(value), []).append(dataset)
    others = [(f"--dataset={names[0]}" if len(names) == 1 else ", ".join(names)) + f": {value}"
              for value, names in by_value.items()]
    return field.metadata["help"] + (f" (with {'; '.join(others)})" if others else "")


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
    for field in SETTING_FIELDS.values():
        if field.name not in names:
            continue
        kind, choices = _value_type(SETTING_TYPES[field.name]), field.metadata["choices"]
        # Shown by --help only: a flag the user does not set takes its dataset's default.
        default = bare_run_default(field)
        args = dict(name=field.name, help=_help(field), flag_values=flag_values)
        if choices:
            flags.DEFINE_enum(default=default, enum_values=choices, **args)
        elif kind is bool:
            flags.DEFINE_boolean(default=default, **args)
        elif kind is int:
            flags.DEFINE_integer(default=default, **args)
        elif kind is float:
            flags.DEFINE_float(default=default, **args)
        elif kind is str:
            flags.DEFINE_string(default=default, **args)
        else:  # a tuple of numbers
            flags.DEFINE_list(default=[str(v) for v in default], **args)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> RunConfig:
    """The RunConfig of the flags the user set (present); the rest take their defaults."""
    chosen = {name: flag_values[name].value for name in SETTINGS if flag_values[name].present}
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


