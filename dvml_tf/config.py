"""RunConfig: every setting of a run, as the composition of its parts (config_parts.py:
data, loss, model, training, evaluation, export), each owning its fields' defaults, help
and validation.

No absl here: the command line (dvml_tf.cli.train) makes one flag per field of every part,
with the field's default and help, and passes the flags the user set to `resolve_config`.
A flag's name is its field's: flat names are unique across the parts, and
`RunConfig.of(**flat)`, `config.replace(**flat)` and `config.flat()` speak them.

Defaults are the paper's settings (Lin et al. 2018, Sec. 3.5 and 4.1: GoogLeNet at 224 px,
512-d embeddings, T = 20, Adam at 1e-4). A dataset may change a few of them
(DATASET_DEFAULTS): the bundled glyphs and digits train a small CNN in minutes on a CPU, and
Stanford Online Products reports Recall@1, 10, 100, 1000. What the user sets wins.
"""
import dataclasses
import json
import os
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from dvml_tf.config_parts import (
    DataSettings,
    EvaluationSettings,
    ExportSettings,
    LossSettings,
    ModelSettings,
    Part,
    TrainingSettings,
)
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.errors import UserError, flag, flag_prefix
from dvml_tf.models.backbone_names import MIN_IMAGE_SIZE

# Part of RunConfig -> its class, in the order flags are listed.
PARTS: Dict[str, type] = {"data": DataSettings, "loss": LossSettings, "model": ModelSettings,
                          "training": TrainingSettings, "evaluation": EvaluationSettings,
                          "export": ExportSettings}
# Every setting's flat name (its flag) -> the part that owns it.
PART_OF: Dict[str, str] = {field.name: part for part, cls in PARTS.items()
                           for field in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A run's settings, part by part (`config.loss.margin`). Build one with
    `RunConfig.of(**flat)`, as the command line would from those flags, or from parts;
    `resolve_config` (the command line) and `dvml_tf.run` validate it."""

    data: DataSettings = dataclasses.field(default_factory=DataSettings)
    loss: LossSettings = dataclasses.field(default_factory=LossSettings)
    model: ModelSettings = dataclasses.field(default_factory=ModelSettings)
    training: TrainingSettings = dataclasses.field(default_factory=TrainingSettings)
    evaluation: EvaluationSettings = dataclasses.field(default_factory=EvaluationSettings)
    export: ExportSettings = dataclasses.field(default_factory=ExportSettings)

    @classmethod
    def of(cls, **settings: Any) -> "RunConfig":
        """The RunConfig of flat settings (flag names), as the command line makes it: the
        rest take their dataset's defaults (DATASET_DEFAULTS), then the paper's."""
        dataset = settings.get("dataset", DataSettings.dataset)
        return cls().replace(**{**DATASET_DEFAULTS.get(dataset, {}), **settings})

    def replace(self, **settings: Any) -> "RunConfig":
        """This config with flat settings changed, each in its part (UserError naming an
        unknown one)."""
        unknown = sorted(set(settings) - set(PART_OF))
        if unknown:
            raise UserError(f"{flag(unknown[0])}: no such setting")
        by_part: Dict[str, Dict[str, Any]] = {}
        for name, value in settings.items():
            by_part.setdefault(PART_OF[name], {})[name] = value
        return dataclasses.replace(self, **{
            part: dataclasses.replace(getattr(self, part), **values)
            for part, values in by_part.items()})

    def flat(self) -> Dict[str, Any]:
        """Every setting by its flat name (flag)."""
        return {name: value for part in PARTS
                for name, value in dataclasses.asdict(getattr(self, part)).items()}

    def parts(self) -> Tuple[Part, ...]:
        return tuple(getattr(self, part) for part in PARTS)

    def to_json(self) -> str:
        """The flat settings (run_config.json, an export's training_flags)."""
        return json.dumps(self.flat(), indent=2, sort_keys=True)

    def image_sizes(self, training: bool) -> ImageSizes:
        return self.data.image_sizes(training)


# Values a dataset gives the settings the user did not set.
DATASET_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "glyphs": dict(backbone="small_cnn", image_size=32, resize_size=36, random_flip=False,
                   classes_per_batch=16, images_per_class=4, train_steps=1000,
                   embedding_dim=128, checkpoint_every=250, eval_every=250,
                   eval_batch_size=256, learning_rate=1e-3, metric_loss="margin_dws",
                   eval_untrained=True),
    "digits": dict(backbone="small_cnn", image_size=32, resize_size=36, random_flip=False,
                   classes_per_batch=5, images_per_class=16, train_steps=800,
                   embedding_dim=128, checkpoint_every=200, eval_batch_size=256,
                   learning_rate=1e-3, eval_untrained=True),
    "sop": dict(recall_k=(1, 10, 100, 1000)),
}
# What --mode=eval and --mode=export take from the trained run unless the user sets them:
# the data it learned from and the name it exports under.
RUN_DATA_KEYS = ("dataset", "data_dir", "split_file", "model_name")
RUN_CONFIG_FILE = "run_config.json"
# Settings that shape the network and its checkpoint (freeze_backbone: which variables
# carry optimizer slots): eval and export read them from the trained run.
ARCHITECTURE_KEYS = ("backbone", "hub_handle", "embedding_dim", "decoder_hidden", "image_size",
                     "resize_size", "metric_loss", "num_proxies", "cross_batch_memory", "dvml",
                     "freeze_backbone", "fine_tune_from")
SETTINGS = tuple(PART_OF)
SETTING_FIELDS: Dict[str, dataclasses.Field] = {
    field.name: field for cls in PARTS.values() for field in dataclasses.fields(cls)}
SETTING_TYPES = {name: hint for cls in PARTS.values()
                 for name, hint in typing.get_type_hints(cls).items() if name in PART_OF}


def resolve_config(settings: Mapping[str, Any]) -> RunConfig:
    """The RunConfig of the settings a user chose (the rest take their defaults; for
    --mode=eval and export, the trained run's data and export name first), validated.

    Raises UserError naming the first bad setting as its flag.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise UserError(f"--{unknown[0]}: no such setting")
    if settings.get("mode") in ("eval", "export"):
        trained = _trained_run_settings(settings.get("model_dir", TrainingSettings.model_dir))
        settings = {**{key: trained[key] for key in RUN_DATA_KEYS if key in trained},
                    **settings}
    dataset = settings.get("dataset", DataSettings.dataset)
    values = {**DATASET_DEFAULTS.get(dataset, {}), **settings}
    for name, cast, count in (("phase1_lambdas", float, 4), ("phase2_lambdas", float, 4),
                              ("recall_k", int, None)):
        if name in values:
            values[name] = parse_numbers(name, values[name], cast, count)
    return finished_config(RunConfig().replace(**values), prefix="--")


# Settings that name files or folders: a leading ~ is the user's home, wherever it came
# from (bash leaves it as it is after --flag=).
PATH_SETTINGS = ("data_dir", "model_dir", "export_dir", "split_file", "backbone_weights",
                 "hub_handle")


def finished_config(config: RunConfig, prefix: Optional[str] = None) -> RunConfig:
    """`config` as every entry point runs it (the command line, dvml_tf.run): the defaults
    that follow other settings filled in, ~ expanded in paths, validated (UserError naming
    the first bad setting as `prefix` + its name; by default as errors.flag names it: its
    flag while a command runs, its field's name in Python)."""
    prefix = flag_prefix() if prefix is None else prefix
    if not isinstance(config, RunConfig):
        raise TypeError(f"config: a dvml_tf.RunConfig, not {type(config).__name__}")
    for part in config.parts():
        part.check_types(prefix)
    config = with_derived_defaults(config)
    flat = config.flat()
    config = config.replace(**{name: os.path.expanduser(flat[name]) for name in PATH_SETTINGS
                               if (flat[name] or "").startswith("~")})
    validate(config, prefix)
    _check_paths(config, prefix)
    return config


def with_derived_defaults(config: RunConfig) -> RunConfig:
    """`config` with the settings whose default follows others filled in: phase 1 half the
    steps, the export named after the dataset."""
    if config.model.phase1_steps < 0:
        config = config.replace(phase1_steps=config.training.train_steps // 2)
    if config.export.model_name is None:
        config = config.replace(model_name=f"dvml_{config.data.dataset}")
    return config


def _trained_run_settings(model_dir: str) -> Dict[str, Any]:
    """The settings a training run saved in `model_dir`; {} where there is none to read
    (evaluation then names the missing run in one line)."""
    try:
        with open(os.path.join(model_dir, RUN_CONFIG_FILE)) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def parse_numbers(name: str, given: Any, cast: type, count: Optional[int] = None) -> tuple:
    """The numbers of a list setting (strings from a flag, or numbers) as a tuple."""
    try:
        parsed = tuple(cast(v) for v in given)
    except (TypeError, ValueError):
        shown = ",".join(map(str, given)) if isinstance(given, (list, tuple)) else given
        raise UserError(f"--{name}={shown}: expected numbers") from None
    if count is not None and len(parsed) != count:
        raise UserError(f"--{name}: expected {count} values, got {len(parsed)}")
    return parsed


def validate(config: RunConfig, prefix: Optional[str] = None) -> None:
    """Raises UserError for settings no run can use, each part checking its own, then the
    rules between parts; touches no file."""
    prefix = flag_prefix() if prefix is None else prefix
    for part in config.parts():
        part.check(prefix)
    smallest = MIN_IMAGE_SIZE[config.model.backbone]
    if config.data.image_size < smallest:
        raise UserError(f"{prefix}image_size={config.data.image_size} is too small for "
                        f"{prefix}backbone={config.model.backbone} (at least {smallest})")
    memory_bytes = 4 * config.loss.cross_batch_memory * config.model.embedding_dim
    if memory_bytes > physical_memory() // 4:
        size = config.loss.cross_batch_memory
        raise UserError(f"{prefix}cross_batch_memory={size}: {size:,} embeddings of "
                        f"{config.model.embedding_dim} floats take {memory_bytes / 2**30:.1f} "
                        f"GiB, more than a quarter of this machine's "
                        f"{physical_memory() / 2**30:.0f} GiB (and every checkpoint stores "
                        "them)")


def physical_memory() -> int:
    """This machine's memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_paths(config: RunConfig, prefix: str) -> None:
    """The files and folders the settings name exist (a TFDS data_dir may be new)."""
    data = config.data
    if data.dataset == "folder" and not os.path.isdir(data.data_dir):
        raise UserError(f"{prefix}data_dir={data.data_dir}: no such directory")
    if data.data_dir and os.path.lexists(data.data_dir) and not os.path.isdir(data.data_dir):
        raise UserError(f"{prefix}data_dir={data.data_dir}: is a file, not a directory")
    if data.split_file and not os.path.isfile(data.split_file):
        raise UserError(f"{prefix}split_file={data.split_file}: no such file")
    weights = config.model.backbone_weights
    if weights not in ("none", "imagenet") and not os.path.exists(weights):
        raise UserError(f"{prefix}backbone_weights={weights}: no such file")


def config_from_saved(saved: Mapping[str, Any]) -> RunConfig:
    """The RunConfig a run saved (flat, as to_json writes it); settings it predates take
    the paper's defaults."""
    values = {name: value for name, value in saved.items() if name in SETTINGS}
    for name in ("phase1_lambdas", "phase2_lambdas", "recall_k"):
        if name in values:
            values[name] = tuple(values[name])
    return RunConfig().replace(**values)
