"""A trained model's evaluation: embed the test split, compute every metric and the
diagnostics of what the variance branch learned, log them to TensorBoard, metrics.json and
diagnostics.json."""
import functools
import json
import logging
import os
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf

from dvml_tf import tensorboard_tags
from dvml_tf.config import RunConfig
from dvml_tf.data.pipeline import eval_dataset
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.data.splits import ImageSplit
from dvml_tf.evaluation import stages
from dvml_tf.evaluation.diagnostics import embedding_diagnostics
from dvml_tf.evaluation.metrics import evaluate_embeddings
from dvml_tf.files import write_json_atomically
from dvml_tf.models.dvml import FEATURES_KEY, DVMLModel
from dvml_tf.terminal import STATUS, CountProgress

METRICS_FILE = "metrics.json"
DIAGNOSTICS_FILE = "diagnostics.json"
# A new run's metrics before its first step (--eval_untrained), until metrics.json holds them.
UNTRAINED_METRICS_FILE = "untrained_metrics.json"


class Evaluation(NamedTuple):
    metrics: Dict[str, object]
    diagnostics: Dict[str, object]
    embeddings: np.ndarray  # L2-normalised z_I of the test split, in its order
    labels: np.ndarray


def compute_embeddings_with_variance(model: DVMLModel, split: ImageSplit, sizes: ImageSizes,
                                     batch_size: int) -> Tuple[np.ndarray, ...]:
    """(embeddings [N, D] float32: L2-normalised z_I, z_I [N, D], mu [N, D],
    log sigma^2 [N, D], labels [N]) in split order."""
    embed = tf.function(model.embed_with_variance)
    parts, labels = [], []
    progress = CountProgress("evaluating: embedding the test images", len(split))
    for images, batch_labels in eval_dataset(split, sizes, batch_size):
        parts.append([t.numpy() for t in embed(images)])
        labels.append(batch_labels.numpy())
        progress.advance(len(labels[-1]))
    progress.done(summary=False)
    return (*(np.concatenate(p) for p in zip(*parts)), np.concatenate(labels))


def embed_features_with_variance(model: DVMLModel, features: np.ndarray, labels: np.ndarray,
                                 batch_size: int) -> Tuple[np.ndarray, ...]:
    """compute_embeddings_with_variance from the cached output of the backbone's frozen part
    (feature_cache.py) instead of the images."""
    heads = tf.function(lambda cached: model.encoder(model.features_of({FEATURES_KEY: cached})))
    parts = [[t.numpy() for t in heads(features[start:start + batch_size])]
             for start in range(0, len(features), batch_size)]
    z_invariant, mu, log_var = (np.concatenate(p) for p in zip(*parts))
    embedded = tf.math.l2_normalize(z_invariant, axis=-1).numpy()
    return embedded, z_invariant, mu, log_var, np.asarray(labels, np.int32)


def compute_embeddings(model: DVMLModel, split: ImageSplit, sizes: ImageSizes,
                       batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """(embeddings [N, D] float32, labels [N]) in split order: L2-normalised z_I."""
    embeddings, _, _, _, labels = compute_embeddings_with_variance(model, split, sizes,
                                                                   batch_size)
    return embeddings, labels


def evaluate_model(config: RunConfig, model: DVMLModel, test_split: ImageSplit,
                   step: int, test_features: Optional[np.ndarray] = None) -> Evaluation:
    """Embeds the test split (from `test_features`, its frozen backbone's cached features,
    where given), computes every metric and the diagnostics, logs them to TensorBoard,
    returns them."""
    with stages.recording() as timed:
        with stages.stage("read, decode and embed"):
            if test_features is None:
                embedded, z_invariant, mu, log_var, labels = compute_embeddings_with_variance(
                    model, test_split, config.image_sizes(training=False),
                    config.evaluation.eval_batch_size)
            else:
                embedded, z_invariant, mu, log_var, labels = embed_features_with_variance(
                    model, test_features, test_split.labels, config.evaluation.eval_batch_size)
        STATUS.announce(f"evaluating: metrics and diagnostics of {len(labels):,} embeddings")
        metrics = evaluate_embeddings(embedded, labels, config.evaluation.recall_k,
                                      kmeans_seed=config.evaluation.kmeans_seed,
                                      bootstrap=config.evaluation.eval_bootstrap)
        with stages.stage("diagnostics"):
            diagnostics = embedding_diagnostics(embedded, labels, (z_invariant, mu, log_var)
                                                if config.model.dvml else None)
    logging.info("evaluation stages: %s", stages.summary(timed))  # above the status line
    STATUS.clear()
    writer = _eval_writer(os.path.join(config.training.model_dir, "logs", "eval"))
    with writer.as_default(step=step):
        for name, value in metrics.items():
            if isinstance(value, float):
                tensorboard_tags.scalar(f"{tensorboard_tags.EVAL}/{name}", value)
        for name in ("ks_p_value_mean", "relative_deviation_percent"):
            if diagnostics[name] is not None:
                tensorboard_tags.scalar(f"{tensorboard_tags.EVAL_DIAGNOSTICS}/{name}",
                                        diagnostics[name])
    writer.flush()
    return Evaluation(metrics, diagnostics, embedded, labels)


@functools.cache
def _eval_writer(log_dir: str) -> tf.summary.SummaryWriter:
    """One summary writer per log folder, however often a run evaluates."""
    return tf.summary.create_file_writer(log_dir)


def read_json(model_dir: str, name: str) -> Optional[Dict[str, object]]:
    """<model_dir>/<name>'s values, or None when there is no such file."""
    path = os.path.join(model_dir, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_json(model_dir: str, name: str, values: Dict[str, object]) -> None:
    """Writes <model_dir>/<name> (metrics.json, diagnostics.json) atomically."""
    write_json_atomically(os.path.join(model_dir, name), values)
