"""`python -m dvml_tf.cli.visualize --model_dir=RUN`: the figures a run draws at its final
evaluation (t-SNE of the test embeddings and of the central latent space, the retrieval
grid, a TensorBoard projector; dvml_tf/evaluation/figures.py), for any run. It reuses the
embeddings the run kept for its latest step, and embeds the test split (with progress)
only when they are missing or older. --data_dir is needed only when the run's dataset has
moved since it trained."""
import os
from typing import Dict, List, Optional

import tensorflow as tf
from absl import flags

from dvml_tf.cli import settings
from dvml_tf.cli.common import run_command
from dvml_tf.data.datasets import load_splits
from dvml_tf.evaluation.figures import stored_embeddings, write_figures
from dvml_tf.evaluation.model_evaluation import compute_embeddings
from dvml_tf.training.checkpoints import (
    CHECKPOINT_SUBDIR,
    current_step,
    load_run_config,
    load_trained_model,
)

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    settings.define_flags(flag_values, names=("model_dir", "data_dir"))
    flags.DEFINE_integer("max_images", 1500, "Test images in the t-SNEs and the projector "
                         "(spread over classes); the retrieval grid searches them all.",
                         flag_values=flag_values)


def _latest_step(model_dir: str) -> Optional[int]:
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    return int(latest.rsplit("-", 1)[1]) if latest else None


def visualize(model_dir: str, data_dir: Optional[str] = None,
              max_images: int = 1500) -> Dict[str, str]:
    """Writes the figures and the projector files; returns the figure paths."""
    config = load_run_config(model_dir)
    data = config.data
    _, test = load_splits(data.dataset, data_dir or data.data_dir, data.split_file)
    step = _latest_step(model_dir)
    stored = stored_embeddings(model_dir, step) if step is not None else None
    if stored is None or len(stored[1]) != len(test):
        model, config = load_trained_model(model_dir)
        step = current_step(model)
        stored = compute_embeddings(model, test, config.image_sizes(training=False),
                                    config.evaluation.eval_batch_size)
    return write_figures(model_dir, step, *stored, test, config, max_images)


def main(argv: List[str]) -> None:
    del argv
    for name, path in visualize(FLAGS.model_dir, FLAGS.data_dir, FLAGS.max_images).items():
        print(f"{name}: {path}")


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
