"""`python -m dvml_tf.cli.visualize --model_dir=RUN`: t-SNE figures of the test embeddings,
the central latent space, a grid of queries and their nearest neighbours, and a
TensorBoard projector (dvml_tf/evaluation/figures.py).
--data_dir is needed only when the run's dataset has moved since it trained."""
from typing import List

from absl import flags

from dvml_tf.cli import settings
from dvml_tf.cli.common import run_command
from dvml_tf.evaluation.figures import visualize

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    settings.define_flags(flag_values, names=("model_dir", "data_dir"))
    flags.DEFINE_integer("max_images", 1500, "Test images to embed (spread over classes).",
                         flag_values=flag_values)


def main(argv: List[str]) -> None:
    del argv
    for name, path in visualize(FLAGS.model_dir, FLAGS.data_dir, FLAGS.max_images).items():
        print(f"{name}: {path}")


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
