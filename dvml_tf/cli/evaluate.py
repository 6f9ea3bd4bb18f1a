"""`python -m dvml_tf.cli.evaluate --embeddings=E.npy --labels=L.npy`: metrics of any
embeddings; with --query_embeddings/--query_labels, of queries against that gallery.

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
from dvml_tf.config import parse_numbers
from dvml_tf.config_parts import check_recall_k
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
    flags.DEFINE_string("query_embeddings", None, "A .npy file of query embeddings: then "
                        "--embeddings is the gallery (the in-shop protocol; Recall@K and "
                        "MAP@R only).", flag_values=flag_values)
    flags.DEFINE_string("query_labels", None, "A .npy file of the queries' labels.",
                        flag_values=flag_values)
    flags.DEFINE_integer("bootstrap", None, "Resamples for a 95-percent bootstrap interval of "
                         "each metric (<name>_ci95); queries resampled, and for NMI and F1 the "
                         "items with the clustering held fixed.", flag_values=flag_values)
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
    if FLAGS.bootstrap is not None and FLAGS.bootstrap <= 0:
        raise UserError(f"--bootstrap={FLAGS.bootstrap} must be positive")
    embeddings, labels = load_pair("embeddings", "labels")
    queries = query_labels = None
    if FLAGS.query_embeddings or FLAGS.query_labels:
        queries, query_labels = load_pair("query_embeddings", "query_labels")
    same_files = queries is None or (
        os.path.realpath(FLAGS.query_embeddings) == os.path.realpath(FLAGS.embeddings)
        and os.path.realpath(FLAGS.query_labels) == os.path.realpath(FLAGS.labels))
    try:
        if same_files:
            metrics = evaluate_embeddings(embeddings, labels, ks, FLAGS.clustering,
                                          FLAGS.kmeans_seed, bootstrap=FLAGS.bootstrap or 0)
        else:
            metrics = evaluate_embeddings(queries, query_labels, ks, kmeans_seed=FLAGS.kmeans_seed,
                                          gallery=embeddings, gallery_labels=labels,
                                          bootstrap=FLAGS.bootstrap or 0)
    except UserError as error:  # inputs no metric is right for: name the files
        files = [f"--{flag}={getattr(FLAGS, flag)}" for flag in
                 ("query_embeddings", "query_labels", "embeddings", "labels")
                 if getattr(FLAGS, flag)]
        raise UserError(f"{', '.join(files)}: {error}") from None
    print(json.dumps(metrics, sort_keys=True))


def load_pair(embeddings_flag: str, labels_flag: str):
    """(embeddings, labels) from the .npy files two flags name; labels must be 1-D."""
    embeddings = load_array(embeddings_flag, getattr(FLAGS, embeddings_flag))
    labels = load_array(labels_flag, getattr(FLAGS, labels_flag))
    if labels.ndim != 1:
        raise UserError(f"--{labels_flag}={getattr(FLAGS, labels_flag)}: expected a 1-D array")
    return embeddings, labels


def run() -> None:
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
