"""Evaluation at Stanford Online Products scale, and against a naive implementation.

    .venv/bin/python benchmarks/evaluation.py [--sop_images=60502 --sop_classes=11316]
        [--naive_images=12000]

1. Synthetic embeddings shaped like SOP's test set (60,502 x 512 float32, 11,316
   classes of 2 to 12 images) go through `python -m dvml_tf.cli.evaluate` in a child
   process: wall time and the child's peak memory (ru_maxrss).
2. On `--naive_images` embeddings, the same metrics by a naive NumPy implementation
   (full distance matrix and argsort, O(n^2) pair counting for F1, scikit-learn
   k-means and NMI) and by dvml_tf, timed in this run, with the ratio.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dvml_tf.evaluation.metrics import evaluate_embeddings, l2_normalize  # noqa: E402


def synthetic_embeddings(num_images, num_classes, dim=512, seed=0):
    """Class centres on the sphere plus noise; class sizes between 2 and 12."""
    rng = np.random.default_rng(seed)
    sizes = np.full(num_classes, 2)
    extra = rng.integers(0, num_classes, num_images - sizes.sum())
    np.add.at(sizes, extra, 1)
    sizes = np.minimum(sizes, 12)
    while sizes.sum() < num_images:  # redistribute what the cap removed
        room = np.flatnonzero(sizes < 12)
        sizes[rng.choice(room, min(len(room), num_images - sizes.sum()), replace=False)] += 1
    labels = rng.permutation(np.repeat(np.arange(num_classes), sizes))
    centres = l2_normalize(rng.normal(size=(num_classes, dim)))
    noise = rng.normal(scale=0.045, size=(num_images, dim))
    return (centres[labels] + noise).astype(np.float32), labels


def naive_metrics(embeddings, labels, ks, seed=0):
    x = l2_normalize(embeddings).astype(np.float64)
    squared = (x * x).sum(1)
    distances = squared[:, None] + squared[None] - 2 * x @ x.T
    np.fill_diagonal(distances, np.inf)
    order = np.argsort(distances, axis=1, kind="stable")[:, :-1]
    hits = labels[order] == labels[:, None]
    metrics = {f"recall@{k}": float(hits[:, :k].any(1).mean()) for k in ks}
    r = np.array([np.sum(labels == label) - 1 for label in labels])
    aps = []
    for row, count in zip(hits, r):
        relevant = row[:count]
        precision = np.cumsum(relevant) / np.arange(1, count + 1)
        aps.append((precision * relevant).sum() / count)
    metrics["map@r"] = float(np.mean(aps))
    k = len(np.unique(labels))
    clusters = KMeans(k, n_init=1, max_iter=20, random_state=seed).fit_predict(x)
    metrics["nmi"] = float(normalized_mutual_info_score(labels, clusters))
    same_class = labels[:, None] == labels[None]
    same_cluster = clusters[:, None] == clusters[None]
    upper = np.triu(np.ones_like(same_class), 1)
    tp = np.sum(same_class & same_cluster & upper)
    fp = np.sum(~same_class & same_cluster & upper)
    fn = np.sum(same_class & ~same_cluster & upper)
    metrics["f1"] = float(2 * tp / (2 * tp + fp + fn))
    return metrics


def sop_scale(num_images, num_classes):
    embeddings, labels = synthetic_embeddings(num_images, num_classes)
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, "e.npy"), embeddings)
        np.save(os.path.join(folder, "l.npy"), labels)
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "dvml_tf.cli.evaluate", f"--embeddings={folder}/e.npy",
             f"--labels={folder}/l.npy", "--recall_k=1,10,100,1000"],
            capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return seconds, peak_gib, json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sop_images", type=int, default=60502)
    parser.add_argument("--sop_classes", type=int, default=11316)
    parser.add_argument("--naive_images", type=int, default=12000)
    args = parser.parse_args()

    seconds, peak, metrics = sop_scale(args.sop_images, args.sop_classes)
    print(f"SOP scale ({args.sop_images} x 512, {args.sop_classes} classes), "
          f"python -m dvml_tf.cli.evaluate: {seconds:.1f} s wall, peak memory {peak:.2f} GiB")
    print("  metrics:", json.dumps({k: round(v, 4) for k, v in metrics.items()}))

    n = args.naive_images
    embeddings, labels = synthetic_embeddings(n, round(n * args.sop_classes / args.sop_images))
    ks = (1, 10, 100, 1000)
    start = time.perf_counter()
    fast = evaluate_embeddings(embeddings, labels, ks)
    fast_seconds = time.perf_counter() - start
    start = time.perf_counter()
    slow = naive_metrics(embeddings, labels, ks)
    slow_seconds = time.perf_counter() - start
    print(f"{n} images: dvml_tf {fast_seconds:.1f} s, naive NumPy {slow_seconds:.1f} s, "
          f"speed-up x{slow_seconds / fast_seconds:.1f}")
    for key in ("recall@1", "recall@1000", "map@r", "nmi", "f1"):
        print(f"  {key}: dvml_tf {fast[key]:.4f}, naive {slow[key]:.4f}")


if __name__ == "__main__":
    main()
