"""Retrieval and clustering metrics of embeddings: Recall@K, MAP@R, NMI, pairwise F1.

The test set is both query and gallery, a query never retrieves itself, and
embeddings are L2-normalised and compared by Euclidean distance (exact, faiss flat).
"""
import logging
from typing import Dict, Iterator, Sequence, Tuple

import faiss
import numpy as np

from dvml_tf.errors import UserError
from dvml_tf.evaluation.clustering import kmeans_clusters

QUERY_CHUNK = 4096


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Unit rows in float32. Each row is first divided by its largest magnitude, so that
    rows of huge finite values (1e30) do not overflow to zero vectors."""
    embeddings = np.asarray(embeddings)
    if embeddings.dtype.kind != "f":
        embeddings = embeddings.astype(np.float32)
    largest = np.abs(embeddings).max(axis=1, keepdims=True)
    scaled = (embeddings / np.where(largest > 0, largest, 1)).astype(np.float32)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    return scaled / np.maximum(norms, 1e-12)


def _search_chunk(index, queries, query_ids, k):
    """Neighbour ids [len(queries), k] ordered by (distance, id), the query itself excluded.

    The search widens for rows whose k-th distance ties with the farthest one returned,
    so ties are always broken by the smaller gallery id.
    """
    n = index.ntotal
    result = np.empty((len(queries), k), dtype=np.int64)
    pending = np.arange(len(queries))
    search_k = min(n, k + 1 + max(8, k // 4))
    while len(pending):
        distances, neighbors = index.search(queries[pending], search_k)
        distances[neighbors == query_ids[pending, None]] = np.inf
        order = np.lexsort((neighbors, distances), axis=1)
        distances = np.take_along_axis(distances, order, axis=1)
        neighbors = np.take_along_axis(neighbors, order, axis=1)
        farthest = np.where(np.isinf(distances[:, -1]), distances[:, -2], distances[:, -1])
        unresolved = (distances[:, k - 1] == farthest) & (search_k < n)
        done = ~unresolved
        result[pending[done]] = neighbors[done, :k]
        pending = pending[unresolved]
        search_k = min(n, 2 * search_k)
    return result


def neighbor_chunks(embeddings: np.ndarray, k: int) -> Iterator[Tuple[int, np.ndarray]]:
    """Yields (first query row, neighbour ids [rows, k]) over all rows, exact (faiss flat)."""
    n, chunk = len(embeddings), QUERY_CHUNK
    index = faiss.IndexFlatL2(embeddings.shape[1])
    index.add(embeddings)
    ids = np.arange(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        yield start, _search_chunk(index, embeddings[start:stop], ids[start:stop], int(k))
        if n > chunk:
            logging.info("nearest neighbours: %d / %d queries", stop, n)


def nearest_neighbors(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Neighbour ids [N, k] of every row, nearest first (small inputs: holds all of them)."""
    return np.concatenate([nb for _, nb in neighbor_chunks(embeddings, k)])


def recall_hits(hits: np.ndarray, ks: Sequence[int]) -> Dict[int, int]:
    """Per K, how many queries have a same-class item among their K nearest (hits [n, k])."""
    return {k: int(hits[:, :k].any(axis=1).sum()) for k in ks}


def average_precision_at_r(hits: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per query AP@R (Musgrave et al. 2020): hits [n, >= max r], r = class size - 1."""
    ranks = np.arange(1, hits.shape[1] + 1)
    relevant = hits & (ranks[None, :] <= r[:, None])
    precision_at_i = np.cumsum(relevant, axis=1) / ranks[None, :]
    return (precision_at_i * relevant).sum(axis=1) / np.maximum(r, 1)


def retrieval_metrics(embeddings: np.ndarray, labels: np.ndarray,
                      ks: Sequence[int]) -> Dict[str, float]:
    """Recall@K for each K and MAP@R, one chunk of queries at a time (bounded memory)."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1
    k = max(max(ks), int(r.max()))
    found = dict.fromkeys(ks, 0)
    ap = np.zeros(len(labels))
    for start, neighbors in neighbor_chunks(embeddings, k):
        stop = start + len(neighbors)
        hits = labels[neighbors] == labels[start:stop, None]
        for key, count in recall_hits(hits, ks).items():
            found[key] += count
        ap[start:stop] = average_precision_at_r(hits, r[start:stop])
    metrics = {f"recall@{key}": found[key] / len(labels) for key in ks}
    metrics["map@r"] = float(ap[r > 0].mean())
    return metrics


def contingency(labels: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Counts [classes, clusters] of items per (class, cluster)."""
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    table = np.zeros((label_ids.max() + 1, cluster_ids.max() + 1), dtype=np.int64)
    np.add.at(table, (label_ids, cluster_ids), 1)
    return table


def nmi(labels: np.ndarray, clusters: np.ndarray) -> float:
    """2 I(clusters; classes) / (H(clusters) + H(classes))."""
    table = contingency(labels, clusters).astype(np.float64)
    n = table.sum()
    joint = table[table > 0] / n
    row = table.sum(1) / n
    col = table.sum(0) / n
    outer = np.outer(row, col)[table > 0]
    mutual = float(np.sum(joint * np.log(joint / outer)))
    entropy = float(-np.sum(row * np.log(row)) - np.sum(col * np.log(col)))
    return 1.0 if entropy == 0 else 2.0 * mutual / entropy


def pairwise_f1(labels: np.ndarray, clusters: np.ndarray) -> float:
    """F1 of 'same cluster' as a prediction of 'same class' over all pairs (Song et al. 2016)."""
    table = contingency(labels, clusters)

    def pairs(counts):
        return float(np.sum(counts * (counts - 1) // 2))

    true_positives = pairs(table)
    predicted = pairs(table.sum(0))
    actual = pairs(table.sum(1))
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / actual if actual else 0.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def check_inputs(embeddings: np.ndarray, labels: np.ndarray, ks: Sequence[int]) -> None:
    """Raises UserError for inputs no metric can be computed on, or only a wrong one."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    if embeddings.dtype.kind not in "fiub":
        raise UserError(f"embeddings must be real numbers, got dtype {embeddings.dtype}")
    if embeddings.ndim != 2 or embeddings.shape[1] == 0:
        raise UserError(f"embeddings must be a 2-D array [N, D] with D >= 1, got shape "
                        f"{embeddings.shape}")
    if len(embeddings) != len(labels):
        raise UserError(f"{len(embeddings)} embeddings but {len(labels)} labels")
    if not np.isfinite(embeddings).all():
        raise UserError("embeddings contain NaN or infinite values")
    if labels.dtype.kind not in "biuUSf":
        raise UserError(f"labels must be integers or strings without NaN, got dtype "
                        f"{labels.dtype}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise UserError(f"labels must be integers or strings without NaN, got dtype "
                        f"{labels.dtype} with NaN")
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2:
        raise UserError("labels hold a single class; retrieval metrics need at least two")
    if counts.max() < 2:
        raise UserError("every label is unique: no query has another item of its class")
    if max(ks) > len(embeddings) - 1:
        raise UserError(f"recall K={max(ks)} exceeds the gallery of {len(embeddings) - 1} items")


def evaluate_embeddings(embeddings: np.ndarray, labels: np.ndarray,
                        recall_ks: Sequence[int] = (1, 2, 4, 8), clustering: bool = True,
                        kmeans_seed: int = 0) -> Dict[str, float]:
    """All metrics as a dict of floats in [0, 1], plus num_test_images / num_test_classes."""
    labels = np.asarray(labels).reshape(-1)
    check_inputs(embeddings, labels, recall_ks)
    embeddings = np.ascontiguousarray(l2_normalize(embeddings))
    num_classes = len(np.unique(labels))
    metrics = retrieval_metrics(embeddings, labels, recall_ks)
    if clustering:
        logging.info("k-means with k=%d on %d embeddings", num_classes, len(labels))
        clusters = kmeans_clusters(embeddings, num_classes, seed=kmeans_seed)
        metrics["nmi"] = nmi(labels, clusters)
        metrics["f1"] = pairwise_f1(labels, clusters)
    metrics["num_test_images"] = int(len(labels))
    metrics["num_test_classes"] = num_classes
    return metrics
