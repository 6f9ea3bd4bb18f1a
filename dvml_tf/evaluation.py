"""Retrieval and clustering metrics of embeddings: Recall@K, MAP@R, NMI, pairwise F1.

The test set is both query and gallery, a query never retrieves itself, and
embeddings are L2-normalised and compared by Euclidean distance (exact, faiss flat).
"""
import logging

import faiss
import numpy as np

from dvml_tf.errors import UserError

QUERY_CHUNK = 4096


def l2_normalize(embeddings):
    embeddings = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def nearest_neighbors(embeddings, k):
    """Indices [N, k] of each row's k nearest other rows, nearest first.

    Ties in distance are broken by gallery index, so results are deterministic.
    """
    n = len(embeddings)
    index = faiss.IndexFlatL2(embeddings.shape[1])
    index.add(embeddings)
    # Ask for a margin beyond k so that every row at the k-th distance is seen.
    k = int(k)
    search_k = min(n, k + 1 + max(8, k // 4))
    result = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, QUERY_CHUNK):
        stop = min(n, start + QUERY_CHUNK)
        distances, neighbors = index.search(embeddings[start:stop], search_k)
        for row in range(stop - start):
            keep = neighbors[row] != start + row
            d, nb = distances[row][keep], neighbors[row][keep]
            order = np.lexsort((nb, d))
            result[start + row] = nb[order][:k]
        if n > QUERY_CHUNK:
            logging.info("nearest neighbours: %d / %d queries", stop, n)
    return result


def recall_at_k(neighbor_labels, labels, ks):
    """Fraction of queries with a same-class item among their K nearest, for each K."""
    hits = neighbor_labels == labels[:, None]
    return {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}


def map_at_r(neighbor_labels, labels):
    """MAP@R (Musgrave et al. 2020): R = number of other items of the query's class."""
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    r = counts[inverse] - 1
    width = neighbor_labels.shape[1]
    ranks = np.arange(1, width + 1)
    relevant = (neighbor_labels == labels[:, None]) & (ranks[None, :] <= r[:, None])
    precision_at_i = np.cumsum(relevant, axis=1) / ranks[None, :]
    per_query = (precision_at_i * relevant).sum(axis=1) / np.maximum(r, 1)
    return float(per_query[r > 0].mean())


def contingency(labels, clusters):
    """Counts [classes, clusters] of items per (class, cluster)."""
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    table = np.zeros((label_ids.max() + 1, cluster_ids.max() + 1), dtype=np.int64)
    np.add.at(table, (label_ids, cluster_ids), 1)
    return table


def nmi(labels, clusters):
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


def pairwise_f1(labels, clusters):
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


def kmeans_clusters(embeddings, k, seed=0, iterations=20):
    """k-means (faiss) cluster id of every row."""
    kmeans = faiss.Kmeans(embeddings.shape[1], k, niter=iterations, seed=seed, verbose=False,
                          max_points_per_centroid=100_000)
    kmeans.train(embeddings)
    _, assignment = kmeans.index.search(embeddings, 1)
    return assignment[:, 0]


def check_inputs(embeddings, labels, ks):
    """Raises UserError for inputs no metric can be computed on."""
    if embeddings.ndim != 2:
        raise UserError(f"embeddings must be a 2-D array, got shape {embeddings.shape}")
    if len(embeddings) != len(labels):
        raise UserError(f"{len(embeddings)} embeddings but {len(labels)} labels")
    if not np.isfinite(embeddings).all():
        raise UserError("embeddings contain NaN or infinite values")
    if len(np.unique(labels)) < 2:
        raise UserError("labels hold a single class; retrieval metrics need at least two")
    if max(ks) > len(embeddings) - 1:
        raise UserError(f"recall K={max(ks)} exceeds the gallery of {len(embeddings) - 1} items")


def evaluate_embeddings(embeddings, labels, recall_ks=(1, 2, 4, 8), clustering=True,
                        kmeans_seed=0):
    """All metrics as a dict of floats in [0, 1], plus num_test_images / num_test_classes."""
    embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels).reshape(-1)
    check_inputs(embeddings, labels, recall_ks)
    embeddings = l2_normalize(embeddings)
    num_classes = len(np.unique(labels))
    largest_class = np.unique(labels, return_counts=True)[1].max()
    neighbors = nearest_neighbors(embeddings, max(max(recall_ks), largest_class - 1))
    neighbor_labels = labels[neighbors]
    metrics = recall_at_k(neighbor_labels, labels, recall_ks)
    metrics["map@r"] = map_at_r(neighbor_labels, labels)
    if clustering:
        clusters = kmeans_clusters(embeddings, num_classes, seed=kmeans_seed)
        metrics["nmi"] = nmi(labels, clusters)
        metrics["f1"] = pairwise_f1(labels, clusters)
    metrics["num_test_images"] = int(len(labels))
    metrics["num_test_classes"] = int(num_classes)
    return metrics
