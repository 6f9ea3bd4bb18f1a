"""The k-means behind NMI and F1, against faiss's default start and scikit-learn.

    .venv/bin/python benchmarks/clustering.py [--model_dir=RUN] [--skip_sop]

1. Perfectly separated classes (unit centres plus noise of 0.01): 40 classes of 5 images
   (one-hot centres x 10), 1,000 and 11,316 classes of 2 to 9 images. NMI and F1 must be
   1.0; printed with dvml_tf's k-means and with faiss's random start and 20 iterations
   (what dvml_tf used before), each timed.
2. With --model_dir (a trained run): its test embeddings (L2-normalised z_I), clustered by
   dvml_tf and by scikit-learn's KMeans(init="k-means++", n_init=10): the objective (sum of
   squared distances to the centroids), NMI and the wall time of each.
"""
import argparse
import os
import sys
import time

import faiss
import numpy as np
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dvml_tf.evaluation.clustering import kmeans_clusters, nmi, pairwise_f1, restarts_for  # noqa: E402  # noqa: E402
from dvml_tf.evaluation.metrics import l2_normalize  # noqa: E402


def separable(num_classes, smallest, largest, dim, one_hot=False, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), rng.integers(smallest, largest + 1, num_classes))
    centres = np.eye(num_classes, dim) * 10 if one_hot else rng.normal(size=(num_classes, dim))
    points = l2_normalize(centres)[labels] + rng.normal(scale=0.01, size=(len(labels), dim))
    return points.astype(np.float32), labels


def faiss_default(points, k, seed=0):
    kmeans = faiss.Kmeans(points.shape[1], k, niter=20, seed=seed, verbose=False,
                          max_points_per_centroid=100_000)
    kmeans.train(points)
    return kmeans.index.search(points, 1)[1][:, 0]


def objective(points, clusters):
    return float(sum(((points[clusters == c] - points[clusters == c].mean(0)) ** 2).sum()
                     for c in np.unique(clusters)))


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def separated_classes(skip_sop):
    cases = [(40, 5, 5, 64, True), (1000, 2, 9, 128, False)]
    if not skip_sop:
        cases.append((11316, 2, 9, 512, False))
    for num_classes, smallest, largest, dim, one_hot in cases:
        points, labels = separable(num_classes, smallest, largest, dim, one_hot)
        print(f"{num_classes} separated classes, {len(labels)} x {dim}, "
              f"{restarts_for(len(labels), num_classes)} restart(s):")
        for name, fn in (("dvml_tf", kmeans_clusters), ("faiss random start", faiss_default)):
            clusters, seconds = timed(fn, points, num_classes)
            print(f"  {name:20s} NMI {nmi(labels, clusters):.6f}  F1 "
                  f"{pairwise_f1(labels, clusters):.6f}  {seconds:6.1f} s")


def trained_run(model_dir):
    from dvml_tf.data.datasets import load_splits
    from dvml_tf.evaluation.model_evaluation import compute_embeddings
    from dvml_tf.training.checkpoints import load_trained_model

    model, config = load_trained_model(model_dir)
    _, test = load_splits(config.data.dataset, config.data.data_dir, config.data.split_file)
    embeddings, labels = compute_embeddings(model, test, config.image_sizes(training=False),
                                            config.evaluation.eval_batch_size)
    points = np.ascontiguousarray(l2_normalize(embeddings))
    k = len(np.unique(labels))
    print(f"{model_dir}: {len(labels)} test embeddings x {points.shape[1]}, {k} classes, "
          f"{restarts_for(len(labels), k)} restart(s)")
    ours, ours_seconds = timed(kmeans_clusters, points, k)
    sklearn = KMeans(k, init="k-means++", n_init=10, random_state=0)
    theirs, theirs_seconds = timed(lambda: sklearn.fit(points).labels_)
    for name, clusters, seconds in (("dvml_tf", ours, ours_seconds),
                                    ("scikit-learn n_init=10", theirs, theirs_seconds)):
        print(f"  {name:22s} objective {objective(points, clusters):.4f}  NMI "
              f"{nmi(labels, clusters):.4f}  F1 {pairwise_f1(labels, clusters):.4f}  "
              f"{seconds:5.1f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", help="A trained run whose test set to cluster.")
    parser.add_argument("--skip_sop", action="store_true", help="Leave out 11,316 classes.")
    args = parser.parse_args()
    separated_classes(args.skip_sop)
    if args.model_dir:
        trained_run(args.model_dir)


if __name__ == "__main__":
    main()
