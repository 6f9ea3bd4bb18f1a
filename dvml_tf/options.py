"""absl flags of `python -m dvml_tf.main` and their validation into a RunConfig.

Flags left unset take the dataset's defaults (DATASET_DEFAULTS), so that a bare
`python -m dvml_tf.main` trains a small CNN on the bundled digits while
`--dataset=cub` gets the paper's GoogLeNet at 224 px.
"""
import dataclasses
import json
import os
import re

from absl import flags

from dvml_tf.builder import CHECKPOINT_SUBDIR
from dvml_tf.distribution import STRATEGIES
from dvml_tf.errors import UserError
from dvml_tf.losses import METRIC_LOSSES
from dvml_tf.models.backbones import BACKBONES
from dvml_tf.models.dvml import PHASE1_LAMBDAS, PHASE2_LAMBDAS

DATASETS = ("digits", "cub", "cars", "sop", "folder")
MODES = ("train_and_eval", "train", "eval", "export")

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "digits", DATASETS, "Dataset to train and evaluate on.")
flags.DEFINE_string("data_dir", None, "TFDS data dir (cub, cars, sop) or image root (folder).")
flags.DEFINE_string("split_file", None,
                    "--dataset=folder: lines NAME,train or NAME,test assigning class folders "
                    "(default: the first half of the sorted folders trains).")
flags.DEFINE_string("model_dir", "runs/dvml", "Checkpoints, TensorBoard logs and metrics.json.")
flags.DEFINE_enum("mode", "train_and_eval", MODES,
                  "train_and_eval trains, evaluates and exports; or one of them alone.")
flags.DEFINE_integer("train_steps", 20000, "Total optimizer steps (a resumed run counts on).")
flags.DEFINE_enum("metric_loss", "triplet_semihard", METRIC_LOSSES, "The metric loss Lm.")
flags.DEFINE_boolean("dvml", True, "False trains the plain metric-learning baseline.")
flags.DEFINE_enum("backbone", "googlenet", BACKBONES, "Feature extractor.")
flags.DEFINE_string("backbone_weights", "none", "none, imagenet, or a Keras weights file.")
flags.DEFINE_integer("embedding_dim", 512, "Size of z_I, mu and log sigma^2.")
flags.DEFINE_integer("decoder_hidden", 512, "Hidden units of the decoder.")
flags.DEFINE_integer("num_samples", 20, "T: variance samples drawn per image.")
flags.DEFINE_integer("synthesized_in_metric", 1,
                     "How many of the T samples per image the synthesized metric loss L3 "
                     "averages over, each as a batch of its own.")
flags.DEFINE_enum("phase2_reconstruction_trains", "everything", ("everything", "variance_heads"),
                  "What phase 2's reconstruction trains besides the decoder: the backbone and "
                  "encoder (the paper), or the mu and log sigma^2 heads alone.")
flags.DEFINE_integer("phase1_steps", -1,
                     "Steps of phase 1 (reconstruction does not reach the encoder); "
                     "-1: half of --train_steps.")
flags.DEFINE_list("phase1_lambdas", [str(v) for v in PHASE1_LAMBDAS], "l1..l4 in phase 1.")
flags.DEFINE_list("phase2_lambdas", [str(v) for v in PHASE2_LAMBDAS], "l1..l4 in phase 2.")
flags.DEFINE_float("margin", None, "Metric-loss margin; default depends on --metric_loss.")
flags.DEFINE_float("npairs_l2_reg", 0.002, "L2 penalty on embeddings in the N-pair loss.")
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate.")
flags.DEFINE_integer("classes_per_batch", 30, "P: classes in each training batch.")
flags.DEFINE_integer("images_per_class", 4, "K: images of each class in a batch.")
flags.DEFINE_integer("image_size", 224, "Network input size (crop size).")
flags.DEFINE_integer("resize_size", 256, "Images are resized to this square before cropping.")
flags.DEFINE_boolean("random_flip", True, "Random horizontal flips in training.")
flags.DEFINE_list("recall_k", ["1", "2", "4", "8"], "K values of Recall@K.")
flags.DEFINE_integer("eval_batch_size", 128, "Batch size when embedding the test set.")
flags.DEFINE_integer("eval_every", 0, "Evaluate every N steps during training (0: at the end).")
flags.DEFINE_integer("checkpoint_every", 500, "Save a checkpoint every N steps.")
flags.DEFINE_integer("keep_checkpoints", 5, "How many recent checkpoints to keep.")
flags.DEFINE_integer("summary_every", 50, "Write TensorBoard training scalars every N steps.")
flags.DEFINE_integer("max_consecutive_skipped", 20,
                     "Stop after this many consecutive steps with a non-finite loss or gradient.")
flags.DEFINE_integer("kmeans_seed", 0, "Seed of the k-means behind NMI and F1.")
flags.DEFINE_string("export_dir", "saved_models", "Export root (TF Serving layout).")
flags.DEFINE_string("model_name", None, "Name under --export_dir; default dvml_<dataset>.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, batches, augmentation and sampling.")
flags.DEFINE_enum("strategy", "default", STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
flags.DEFINE_integer("cpu_devices", 1,
                     "Split the CPU into this many logical devices (mirrored training on a "
                     "CPU-only machine).")
flags.DEFINE_enum("mixed_precision", "none", ("none", "mixed_float16", "mixed_bfloat16"),
                  "Keras mixed-precision policy; losses stay in float32.")
flags.DEFINE_boolean("jit_compile", False, "XLA-compile the train step.")
flags.DEFINE_boolean("deterministic", False,
                     "Deterministic TensorFlow ops: a resumed run then matches an "
                     "uninterrupted one exactly.")

# Values for flags the user did not set, per dataset.
DATASET_DEFAULTS = {
    "digits": dict(backbone="small_cnn", image_size=32, resize_size=36, random_flip=False,
                   classes_per_batch=5, images_per_class=16, train_steps=800,
                   embedding_dim=128, checkpoint_every=200, eval_batch_size=256),
    "sop": dict(recall_k=["1", "10", "100", "1000"]),
}
# Settings that shape the network: eval and export read them from the trained run.
ARCHITECTURE_KEYS = ("backbone", "embedding_dim", "decoder_hidden", "image_size", "resize_size",
                     "metric_loss", "dvml")
RUN_CONFIG_FILE = "run_config.json"
# A model name is one folder under --export_dir, as TensorFlow Serving names models.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    dataset: str
    data_dir: str
    split_file: str
    model_dir: str
    mode: str
    train_steps: int
    metric_loss: str
    dvml: bool
    backbone: str
    backbone_weights: str
    embedding_dim: int
    decoder_hidden: int
    num_samples: int
    synthesized_in_metric: int
    phase2_reconstruction_trains: str
    phase1_steps: int
    phase1_lambdas: tuple
    phase2_lambdas: tuple
    margin: float
    npairs_l2_reg: float
    learning_rate: float
    classes_per_batch: int
    images_per_class: int
    image_size: int
    resize_size: int
    random_flip: bool
    recall_k: tuple
    eval_batch_size: int
    eval_every: int
    checkpoint_every: int
    keep_checkpoints: int
    summary_every: int
    max_consecutive_skipped: int
    kmeans_seed: int
    export_dir: str
    model_name: str
    seed: int
    strategy: str
    tpu: str
    cpu_devices: int
    mixed_precision: str
    jit_compile: bool
    deterministic: bool

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def _numbers(flag, values, cast, count=None):
    try:
        parsed = tuple(cast(v) for v in values)
    except ValueError:
        raise UserError(f"--{flag}={','.join(values)}: expected numbers") from None
    if count is not None and len(parsed) != count:
        raise UserError(f"--{flag}: expected {count} values, got {len(parsed)}")
    return parsed


def _positive(values, *names):
    for name in names:
        if values[name] <= 0:
            raise UserError(f"--{name}={values[name]} must be positive")


def config_from_flags(flag_values=FLAGS):
    """Resolves dataset defaults and validates every flag; raises UserError naming the flag."""
    values = {name: flag_values[name].value for name in RunConfig.__dataclass_fields__}
    for name, default in DATASET_DEFAULTS.get(values["dataset"], {}).items():
        if not flag_values[name].present:
            values[name] = default
    _positive(values, "train_steps", "embedding_dim", "decoder_hidden", "num_samples",
              "learning_rate", "image_size", "resize_size", "eval_batch_size",
              "checkpoint_every", "keep_checkpoints", "summary_every", "max_consecutive_skipped",
              "cpu_devices")
    if values["classes_per_batch"] < 2:
        raise UserError(f"--classes_per_batch={values['classes_per_batch']}: P x K batches "
                        "need at least 2 classes")
    if values["images_per_class"] < 2:
        raise UserError(f"--images_per_class={values['images_per_class']}: P x K batches "
                        "need at least 2 images per class")
    if values["image_size"] > values["resize_size"]:
        raise UserError(f"--image_size={values['image_size']} exceeds "
                        f"--resize_size={values['resize_size']}")
    if not 1 <= values["synthesized_in_metric"] <= values["num_samples"]:
        raise UserError(f"--synthesized_in_metric={values['synthesized_in_metric']} must be "
                        f"between 1 and --num_samples={values['num_samples']}")
    if values["eval_every"] < 0:
        raise UserError(f"--eval_every={values['eval_every']} must be 0 or positive")
    if values["phase1_steps"] < 0:
        values["phase1_steps"] = values["train_steps"] // 2
    values["phase1_lambdas"] = _numbers("phase1_lambdas", values["phase1_lambdas"], float, 4)
    values["phase2_lambdas"] = _numbers("phase2_lambdas", values["phase2_lambdas"], float, 4)
    values["recall_k"] = _numbers("recall_k", values["recall_k"], int)
    if not values["recall_k"] or min(values["recall_k"]) < 1:
        raise UserError("--recall_k: values must be positive integers")
    _check_data_dir(values["dataset"], values["data_dir"])
    if values["split_file"] and values["dataset"] != "folder":
        raise UserError("--split_file applies to --dataset=folder only")
    if values["split_file"] and not os.path.isfile(values["split_file"]):
        raise UserError(f"--split_file={values['split_file']}: no such file")
    values["model_name"] = values["model_name"] or f"dvml_{values['dataset']}"
    if not MODEL_NAME.fullmatch(values["model_name"]):
        raise UserError(f"--model_name={values['model_name']}: use letters, digits, '.', '_' "
                        "and '-' only, starting with a letter or digit (one folder under "
                        "--export_dir)")
    return RunConfig(**values)


def _check_data_dir(dataset, data_dir):
    if dataset == "folder" and not data_dir:
        raise UserError("--data_dir is required with --dataset=folder (one subfolder per class)")
    if dataset == "folder" and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir={data_dir}: no such directory")
    if data_dir and os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise UserError(f"--data_dir={data_dir}: is a file, not a directory")


def save_run_config(config):
    """Writes the run's settings beside its checkpoints (atomically)."""
    os.makedirs(config.model_dir, exist_ok=True)
    path = os.path.join(config.model_dir, RUN_CONFIG_FILE)
    with open(path + ".tmp", "w") as f:
        f.write(config.to_json())
    os.replace(path + ".tmp", path)


def load_run_config(model_dir, flag_values=FLAGS):
    """The RunConfig saved by a training run; settings it predates take their defaults."""
    path = os.path.join(model_dir, RUN_CONFIG_FILE)
    if not os.path.exists(path):
        raise UserError(f"--model_dir={model_dir}: no trained run found ({RUN_CONFIG_FILE} "
                        "is missing); train first")
    with open(path) as f:
        saved = json.load(f)
    fields = RunConfig.__dataclass_fields__
    values = {name: flag_values[name].default for name in fields}
    values.update({name: value for name, value in saved.items() if name in fields})
    return RunConfig(**values)


def check_resumable(config):
    """Raises UserError, before anything is written, when --model_dir holds checkpoints of
    a network other than the one `config` asks for."""
    checkpoints = os.path.join(config.model_dir, CHECKPOINT_SUBDIR, "checkpoint")
    if not os.path.exists(checkpoints):
        return
    trained = load_run_config(config.model_dir)
    for key in ARCHITECTURE_KEYS:
        if getattr(trained, key) != getattr(config, key):
            raise UserError(f"--{key}={getattr(config, key)}: --model_dir={config.model_dir} "
                            f"holds a run trained with --{key}={getattr(trained, key)}; rerun "
                            "with its settings or choose another --model_dir")


def with_trained_architecture(config):
    """The config with the network settings of the run saved in config.model_dir."""
    trained = load_run_config(config.model_dir)
    return dataclasses.replace(
        config, **{key: getattr(trained, key) for key in ARCHITECTURE_KEYS})
