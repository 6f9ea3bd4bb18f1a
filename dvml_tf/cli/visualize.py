"""`python -m dvml_tf.cli.visualize --model_dir=RUN`: t-SNE figures of the test embeddings,
the central latent space, a grid of queries and their nearest neighbours, and a
TensorBoard projector (dvml_tf/evaluation/figures.py).
--data_dir is needed only when the run's dataset has moved since it trained."""
import contextlib
import logging
import os
from typing import Dict, Iterator, List, Optional

import tensorflow as tf
from absl import flags
from PIL import Image

from dvml_tf.cli import settings
from dvml_tf.cli.common import run_command
from dvml_tf.data.datasets import load_splits
from dvml_tf.errors import UserError, first_line, out_of_space_is_user_error
from dvml_tf.evaluation.figures import (
    FIGURE_DESCRIPTIONS,
    central_latent_space,
    plot,
    retrieval_grid,
    retrieval_queries,
    stratified_sample,
    thumbnails_of,
    tsne,
    write_projector,
)
from dvml_tf.evaluation.model_evaluation import compute_embeddings
from dvml_tf.training.checkpoints import current_step, load_trained_model

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    settings.define_flags(flag_values, names=("model_dir", "data_dir"))
    flags.DEFINE_integer("max_images", 1500, "Test images to embed (spread over classes).",
                         flag_values=flag_values)


@contextlib.contextmanager
def _writing_into(model_dir: str) -> Iterator[None]:
    """A folder that cannot be written (permissions, a file in the way, a full disk): one
    line naming it."""
    with out_of_space_is_user_error(f"--model_dir={model_dir}"):
        try:
            yield
        except (OSError, tf.errors.PermissionDeniedError,
                tf.errors.FailedPreconditionError) as error:
            raise UserError(f"--model_dir={model_dir}: cannot write the figures there "
                            f"({first_line(error, 160)})") from None


def visualize(model_dir: str, data_dir: Optional[str] = None,
              max_images: int = 1500) -> Dict[str, str]:
    """Writes the figures and the projector files; returns the figure paths."""
    model, config = load_trained_model(model_dir)
    step = current_step(model)
    _, test = load_splits(config.dataset, data_dir or config.data_dir, config.split_file)
    subset = test.subset(stratified_sample(test.labels, max_images, config.seed))
    embeddings, labels = compute_embeddings(model, subset, config.image_sizes(training=False),
                                            config.eval_batch_size)
    thumbnails = thumbnails_of(subset, range(len(subset)), config)
    with _writing_into(model_dir):
        return _write_figures(model_dir, step, embeddings, labels, thumbnails, subset,
                              config.seed)


def _write_figures(model_dir, step, embeddings, labels, thumbnails, subset, seed):
    figures = os.path.join(model_dir, "figures")
    os.makedirs(figures, exist_ok=True)
    paths = {name: os.path.join(figures, f"{name}.png")
             for name in ("tsne", "central_latent_space", "retrieval")}
    logging.info("t-SNE of %d test embeddings", len(labels))
    plot(tsne(embeddings), labels, thumbnails, f"t-SNE of test embeddings, step {step}",
         paths["tsne"], subset.class_name)
    plot(tsne(central_latent_space(embeddings, labels)), labels, None,
         f"Central latent space (embedding minus class centre), step {step}",
         paths["central_latent_space"], subset.class_name)
    Image.fromarray(retrieval_grid(embeddings, labels, thumbnails,
                                   retrieval_queries(labels, seed=seed))).save(
        paths["retrieval"])
    log_dir = os.path.join(model_dir, "logs", "visualize")
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=step):
        for name, figure in paths.items():
            image = tf.io.decode_png(tf.io.read_file(figure), channels=3)[tf.newaxis]
            tf.summary.image(name, image, description=FIGURE_DESCRIPTIONS[name])
    writer.flush()
    write_projector(log_dir, f"test_embeddings_step_{step}", embeddings, labels,
                    subset.class_name, thumbnails)
    return paths


def main(argv: List[str]) -> None:
    del argv
    for name, path in visualize(FLAGS.model_dir, FLAGS.data_dir, FLAGS.max_images).items():
        print(f"{name}: {path}")


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
