"""A trained model's evaluation: embed the test split, compute every metric, log them to
TensorBoard and metrics.json."""
import functools
import json
import logging
import os
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.data.pipeline import eval_dataset
from dvml_tf.data.preprocessing import ImageSizes
from dvml_tf.data.splits import ImageSplit
from dvml_tf.evaluation.metrics import evaluate_embeddings
from dvml_tf.models.dvml import DVMLModel

METRICS_FILE = "metrics.json"


def compute_embeddings(model: DVMLModel, split: ImageSplit, sizes: ImageSizes,
                       batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """(embeddings [N, D] float32, labels [N]) in split order: L2-normalised z_I."""
    embed = tf.function(model.embed)
    embeddings, labels = [], []
    for images, batch_labels in eval_dataset(split, sizes, batch_size):
        embeddings.append(embed(images).numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(embeddings), np.concatenate(labels)


def evaluate_model(config: RunConfig, model: DVMLModel, test_split: ImageSplit,
                   step: int) -> Dict[str, float]:
    """Embeds the test split, computes every metric, logs them to TensorBoard, returns them."""
    embedded, labels = compute_embeddings(model, test_split, config.image_sizes(training=False),
                                          config.eval_batch_size)
    metrics = evaluate_embeddings(embedded, labels, config.recall_k,
                                  kmeans_seed=config.kmeans_seed)
    writer = _eval_writer(os.path.join(config.model_dir, "logs", "eval"))
    with writer.as_default(step=step):
        for name, value in metrics.items():
            if isinstance(value, float):
                tf.summary.scalar(f"eval/{name}", value)
    writer.flush()
    logging.info("step %d: %s", step, json.dumps(metrics))
    return metrics


@functools.cache
def _eval_writer(log_dir: str) -> tf.summary.SummaryWriter:
    """One summary writer per log folder, however often a run evaluates."""
    return tf.summary.create_file_writer(log_dir)


def write_metrics(model_dir: str, metrics: Dict[str, float]) -> None:
    """Writes metrics.json atomically."""
    path = os.path.join(model_dir, METRICS_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
