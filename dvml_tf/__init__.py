"""dvml_tf: Deep Variational Metric Learning (Lin et al., ECCV 2018) for Keras 3 on TensorFlow.

The Python API, every name from here (docs: README "Python API"):

    load_dataset(name) -> (train, test)  a bundled or paper dataset: .images, .labels
    backbone(name, image_size)           a Keras backbone: images in [0, 255] -> features
    dvml_model(backbone, ...)            a DVMLModel around any Keras backbone; fit it
    pk_batches(images, labels, ...)      P x K training batches (tf.data) for fit
    load(path) -> Embedder               a trained run or an export; .embed(images) -> numpy
    Embedder.from_model(model, ...)      the same for a model in memory
    evaluate(embeddings, labels, ...)    Recall@K, MAP@R, NMI, F1; query/gallery; bootstrap
    RetrievalIndex(embeddings, names)    exact k-NN: .search, .lookup, .save, .load
    export(model, export_dir, ...)       a SavedModel for TensorFlow Serving
    MetricLoss(name, ...)                a metric loss as a keras.losses.Loss
    MetricLossLayer(name, ...)           one with trained variables (margin_dws, the proxy
                                         losses) or a cross-batch memory (XBM)
    METRIC_LOSSES                        the loss names
    RunConfig.of(**flags), run(config)   what `python -m dvml_tf.main` runs, from Python:
                                         parts data, loss, model, training, evaluation,
                                         export (config.loss.margin), flat flag names

Four are aliases, named otherwise in tracebacks and help(): load_dataset of
dvml_tf.data.datasets.load_splits, backbone of dvml_tf.models.backbones.build_backbone,
evaluate of dvml_tf.evaluation.metrics.evaluate_embeddings and run of
dvml_tf.training.run.run_modes.

Importing dvml_tf sets nothing in the process (no environment variable, no Keras switch:
`tf.keras` stays as it was) and imports neither TensorFlow nor Keras until a name is used;
type checkers and IDEs see the names through the imports under TYPE_CHECKING.
"""
import importlib
from typing import TYPE_CHECKING

__version__ = "0.3.0"

# Public name -> the module that defines it; moving a module never breaks a user.
_PUBLIC = {
    "load_dataset": "dvml_tf.data.datasets:load_splits",
    "backbone": "dvml_tf.models.backbones:build_backbone",
    "dvml_model": "dvml_tf.training.build:dvml_model",
    "DVMLModel": "dvml_tf.models.dvml:DVMLModel",
    "pk_batches": "dvml_tf.data.pipeline:pk_batches",
    "load": "dvml_tf.embedder:load",
    "Embedder": "dvml_tf.embedder:Embedder",
    "evaluate": "dvml_tf.evaluation.metrics:evaluate_embeddings",
    "RetrievalIndex": "dvml_tf.retrieval:RetrievalIndex",
    "export": "dvml_tf.serving.export:export",
    "MetricLoss": "dvml_tf.keras_losses:MetricLoss",
    "MetricLossLayer": "dvml_tf.models.metric_loss_layer:MetricLossLayer",
    "METRIC_LOSSES": "dvml_tf.losses.metric:METRIC_LOSSES",
    "RunConfig": "dvml_tf.config:RunConfig",
    "run": "dvml_tf.training.run:run_modes",
}
__all__ = ["DVMLModel", "Embedder", "METRIC_LOSSES", "MetricLoss", "MetricLossLayer",
           "RetrievalIndex", "RunConfig", "backbone", "dvml_model", "evaluate", "export", "load",
           "load_dataset", "pk_batches", "run"]  # = sorted(_PUBLIC), tested

if TYPE_CHECKING:  # the same names as _PUBLIC (tests/unit/api/test_public_names.py checks)
    from dvml_tf.config import RunConfig
    from dvml_tf.data.datasets import load_splits as load_dataset
    from dvml_tf.data.pipeline import pk_batches
    from dvml_tf.embedder import Embedder, load
    from dvml_tf.evaluation.metrics import evaluate_embeddings as evaluate
    from dvml_tf.keras_losses import MetricLoss
    from dvml_tf.losses.metric import METRIC_LOSSES
    from dvml_tf.models.backbones import build_backbone as backbone
    from dvml_tf.models.dvml import DVMLModel
    from dvml_tf.models.metric_loss_layer import MetricLossLayer
    from dvml_tf.retrieval import RetrievalIndex
    from dvml_tf.serving.export import export
    from dvml_tf.training.build import dvml_model
    from dvml_tf.training.run import run_modes as run


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'dvml_tf' has no attribute {name!r}")
    from dvml_tf.stack import check_stack

    check_stack()  # Keras 3 on a supported TensorFlow, or one line saying what to install
    module, attribute = _PUBLIC[name].split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
