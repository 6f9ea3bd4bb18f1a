"""`python -m dvml_tf.cli.evaluate --embeddings=E.npy --labels=L.npy`: metrics of any
embeddings.

Prints one JSON object: recall@K for each K, nmi, f1, map@r, num_test_images,
num_test_classes. Uses the same code as training's evaluation.
"""
import json
import os
from typing import List

import numpy as np
from absl import flags

from dvml_tf.cli import settings
from dvml_tf.cli.common import run_command
from dvml_tf.config import check_recall_k, parse_numbers
from dvml_tf.errors import UserError, first_line
from dvml_tf.evaluation.metrics import evaluate_embeddings

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """The command line's flags; defined on use so that importing stays side-effect free."""
    flags.DEFINE_string("embeddings", None, "A .npy file of float embeddings [N, D].",
                        flag_values=flag_values)
    flags.DEFINE_string("labels", None, "A .npy file of integer labels [N].",
                        flag_values=flag_values)
    flags.DEFINE_boolean("clustering", True, "Compute NMI and F1 (k-means); --noclustering "
                         "skips.", flag_values=flag_values)
    settings.define_flags(flag_values, names=("recall_k", "kmeans_seed"))


def load_array(flag: str, path: str) -> np.ndarray:
    if not path:
        raise UserError(f"--{flag} is required")
    if not path.endswith(".npy") or not os.path.isfile(path):
        raise UserError(f"--{flag}={path}: not an existing .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"--{flag}={path}: cannot read a .npy array "
                        f"({first_line(error, 160)})") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise UserError(f"--{flag}={path}: an .npz archive, not a .npy array")
    return array


def main(argv: List[str]) -> None:
    del argv
    ks = parse_numbers("recall_k", FLAGS.recall_k, int)
    check_recall_k(ks)
    embeddings = load_array("embeddings", FLAGS.embeddings)
    labels = load_array("labels", FLAGS.labels)
    if labels.ndim != 1:
        raise UserError(f"--labels={FLAGS.labels}: expected a 1-D array")
    try:
        metrics = evaluate_embeddings(embeddings, labels, ks, FLAGS.clustering,
                                      FLAGS.kmeans_seed)
    except UserError as error:  # inputs no metric is right for: name the files
        raise UserError(f"--embeddings={FLAGS.embeddings}, --labels={FLAGS.labels}: "
                        f"{error}") from None
    print(json.dumps(metrics, sort_keys=True))


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
