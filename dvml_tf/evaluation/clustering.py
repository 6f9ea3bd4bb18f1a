"""NMI and pairwise F1 of a clustering, and the k-means behind them: good seeds, Lloyd
iterations to convergence, the best of restarts.

A random start with 20 Lloyd iterations (faiss's default, used here before) strands
several centroids in one class and leaves others without any: on perfectly separated
classes it gave F1 0.77, 0.79 and 0.68 at 40, 1,000 and 11,316 classes
(benchmarks/clustering.py), where this module scores 1.0. Here the first restart is
seeded by farthest-first traversal, which seeds each separated class once, and the others
by greedy k-means++, as scikit-learn seeds; Lloyd iterations (faiss) run until the
objective stops falling, and the restart with the lowest objective wins. D(x) below is a
point's distance to the nearest seed drawn so far.
"""
import logging
from typing import Tuple

import faiss
import numpy as np

ROUND_CANDIDATES = 256
LLOYD_ITERATIONS = 100
LLOYD_CHUNK = 4
LLOYD_TOLERANCE = 1e-5
LLOYD_WORK = 1.5e12  # n * k * dim * iterations of one restart
# Restarts, each a new seeding and its Lloyd iterations; the lowest objective wins. Ten as
# scikit-learn's n_init while n * k is small (Cars196's test set: 8,131 x 98); fewer as it
# grows, down to the single farthest-first one at Stanford Online Products' scale, where
# one k-means takes tens of seconds and sequential k-means++ seeding a minute.
MAX_RESTARTS = 10
RESTART_BUDGET = 6e7  # n * k summed over restarts


def squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """[len(points), len(centres)] squared Euclidean distances, clipped at zero."""
    squares = (np.einsum("ij,ij->i", points, points)[:, None]
               + np.einsum("ij,ij->i", centres, centres)[None, :] - 2.0 * points @ centres.T)
    return np.maximum(squares, 0.0)


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of k seeds by greedy k-means++ (Arthur and Vassilvitskii 2007, as
    scikit-learn seeds): each next seed is, of 2 + ln k points drawn with probability
    proportional to D(x)^2, the one that lowers the sum of D^2 most."""
    n, trials = len(points), 2 + int(np.log(k))
    norms = np.einsum("ij,ij->i", points, points).astype(np.float64)

    def distances_to(rows):
        return np.maximum(norms[:, None] + norms[rows][None, :]
                          - 2.0 * (points @ points[rows].T), 0.0)

    chosen = [int(rng.integers(n))]
    nearest = distances_to(chosen)[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        candidates = (rng.choice(n, size=trials, p=nearest / total) if total > 0
                      else rng.choice(np.setdiff1d(np.arange(n), chosen), size=1))
        distances = np.minimum(nearest[:, None], distances_to(candidates))
        best = int(np.argmin(distances.sum(0)))
        chosen.append(int(candidates[best]))
        nearest = distances[:, best]
    return np.array(chosen)


def farthest_first(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of k seeds by farthest-first traversal (Gonzalez 1985), in rounds: a
    round takes the points farthest from every seed so far, down to half the farthest
    distance, and keeps each one that is not within half its distance of a seed kept
    earlier in the round. On separated classes it
    seeds each class exactly once, where k-means++ draws a seed in an already seeded class
    with a probability that grows with the number of classes (about half the late draws at
    1,000 classes of noise 0.01); on real embeddings it may favour outliers, so it is one
    restart among k-means++ ones, and the objective decides."""
    n = len(points)
    chosen = [int(rng.integers(n))]
    nearest = squared_distances(points, points[chosen])[:, 0].astype(np.float64)
    while len(chosen) < k:
        candidates = np.argsort(-nearest, kind="stable")[:min(ROUND_CANDIDATES, k - len(chosen))]
        if nearest[candidates[0]] <= 0:  # every point sits on a seed
            rest = np.setdiff1d(np.arange(n), chosen)
            chosen += list(rng.choice(rest, k - len(chosen), replace=False))
            break
        accepted = [int(candidates[0])]
        for candidate in candidates[1:]:
            if nearest[candidate] < nearest[candidates[0]] / 4:
                break  # near a seed already, next to the round's farthest point
            closest = squared_distances(points[candidate:candidate + 1], points[accepted]).min()
            if closest >= nearest[candidate] / 4:
                accepted.append(int(candidate))
        chosen += accepted
        nearest = np.minimum(nearest, squared_distances(points, points[accepted]).min(1))
    return np.array(chosen)


def lloyd_iterations(n: int, k: int, dim: int) -> int:
    """At most LLOYD_ITERATIONS, fewer where one costs more than LLOYD_WORK / 100: one
    chunk of 4 at Stanford Online Products' scale (3 s an iteration on 2 cores; 8 gave
    an evaluation of 70 s there)."""
    return int(np.clip(LLOYD_WORK // (n * k * dim), LLOYD_CHUNK, LLOYD_ITERATIONS))


def lloyd(points: np.ndarray, seeds: np.ndarray, seed: int) -> Tuple[np.ndarray, float]:
    """(cluster of every row, objective: the sum of squared distances to the centroids)
    after Lloyd iterations from the seeds (faiss, which also re-seeds empty clusters), in
    chunks, until the objective stops falling (relative change below LLOYD_TOLERANCE) or
    after `lloyd_iterations`."""
    centroids, objective = points[seeds], np.inf
    for _ in range(0, lloyd_iterations(len(points), len(seeds), points.shape[1]),
                   LLOYD_CHUNK):
        kmeans = faiss.Kmeans(points.shape[1], len(seeds), niter=LLOYD_CHUNK, seed=seed,
                              verbose=False, min_points_per_centroid=1,
                              max_points_per_centroid=1 << 30)
        kmeans.train(points, init_centroids=centroids)
        centroids = kmeans.centroids
        distances, assignment = kmeans.index.search(points, 1)
        previous, objective = objective, float(distances.sum())
        if previous < np.inf and previous - objective <= LLOYD_TOLERANCE * previous:
            break
    return assignment[:, 0], objective


def restarts_for(n: int, k: int) -> int:
    return int(np.clip(RESTART_BUDGET // max(n * k, 1), 1, MAX_RESTARTS))


def kmeans_clusters(embeddings: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The cluster of every row: the best (lowest objective) of `restarts_for(n, k)`
    k-means runs, the first seeded by farthest-first traversal, the others by k-means++."""
    points = np.ascontiguousarray(embeddings, dtype=np.float32)
    rng = np.random.default_rng(seed)
    best, best_objective = None, np.inf
    restarts = restarts_for(len(points), k)
    for restart in range(restarts):
        seeding = farthest_first if restart == 0 else kmeans_plus_plus
        assignment, objective = lloyd(points, seeding(points, k, rng), seed + restart)
        if objective < best_objective:
            best, best_objective = assignment, objective
    logging.debug("k-means, k=%d: best objective %.4g of %d restart(s)", k, best_objective,
                 restarts)
    return best


def contingency(labels: np.ndarray, clusters: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (class, cluster) table's non-zero cells: (counts, class of each cell, cluster of
    each cell), class and cluster as 0-based ids. Sparse: SOP's 11,316 x 11,316 table would
    take a GiB dense."""
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    width = int(cluster_ids.max()) + 1
    cells, counts = np.unique(label_ids.astype(np.int64) * width + cluster_ids,
                              return_counts=True)
    return counts, cells // width, cells % width


def nmi(labels: np.ndarray, clusters: np.ndarray) -> float:
    """2 I(clusters; classes) / (H(clusters) + H(classes))."""
    counts, rows, cols = contingency(labels, clusters)
    n = counts.sum()
    row = np.bincount(rows, weights=counts) / n
    col = np.bincount(cols, weights=counts) / n
    joint = counts / n
    mutual = float(np.sum(joint * np.log(joint / (row[rows] * col[cols]))))
    row, col = row[row > 0], col[col > 0]
    entropy = float(-np.sum(row * np.log(row)) - np.sum(col * np.log(col)))
    return 1.0 if entropy == 0 else 2.0 * mutual / entropy


def pairwise_f1(labels: np.ndarray, clusters: np.ndarray) -> float:
    """F1 of 'same cluster' as a prediction of 'same class' over all pairs (Song et al. 2016)."""
    counts, rows, cols = contingency(labels, clusters)

    def pairs(sizes):
        return float(np.sum(sizes * (sizes - 1) // 2))

    true_positives = pairs(counts)
    predicted = pairs(np.bincount(cols, weights=counts).astype(np.int64))
    actual = pairs(np.bincount(rows, weights=counts).astype(np.int64))
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else 0.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
