"""Retrieval and clustering metrics of embeddings: Recall@K, MAP@R, NMI, pairwise F1.

The test set is both query and gallery, a query never retrieves itself, and
embeddings are L2-normalised and compared by Euclidean distance (exact, faiss flat).
"""
import logging
from typing import Dict, Iterator, Optional, Sequence, Tuple

import faiss
import numpy as np

from dvml_tf.errors import UserError
from dvml_tf.evaluation.bootstrap import bootstrap_intervals, clustering_bootstrap_intervals
from dvml_tf.evaluation.clustering import kmeans_clusters, nmi, pairwise_f1
from dvml_tf.evaluation.stages import stage

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


def neighbor_chunks(queries: np.ndarray, k: int, gallery: Optional[np.ndarray] = None
                    ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yields (first query row, gallery ids [rows, k] of its nearest neighbours) over all
    queries, exact (faiss flat). Without `gallery` the queries are the gallery, and a query
    never retrieves itself."""
    same_set = gallery is None
    gallery = queries if same_set else gallery
    n, chunk = len(queries), QUERY_CHUNK
    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(gallery)
    ids = np.arange(n) if same_set else np.full(n, -1)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        yield start, _search_chunk(index, queries[start:stop], ids[start:stop], int(k))
        if n > chunk:
            logging.info("nearest neighbours: %d / %d queries", stop, n)


def nearest_neighbors(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Neighbour ids [N, k] of every row, nearest first (small inputs: holds all of them)."""
    return np.concatenate([nb for _, nb in neighbor_chunks(embeddings, k)])


def recall_hits(hits: np.ndarray, ks: Sequence[int]) -> Dict[int, np.ndarray]:
    """Per K, whether each query has a same-class item among its K nearest (hits [n, k])."""
    return {k: hits[:, :k].any(axis=1) for k in ks}


def average_precision_at_r(hits: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per query AP@R (Musgrave et al. 2020): hits [n, >= max r], r = the number of
    gallery items of the query's class (itself not counted)."""
    ranks = np.arange(1, hits.shape[1] + 1)
    relevant = hits & (ranks[None, :] <= r[:, None])
    precision_at_i = np.cumsum(relevant, axis=1) / ranks[None, :]
    return (precision_at_i * relevant).sum(axis=1) / np.maximum(r, 1)


def relevant_counts(query_labels: np.ndarray, gallery_labels: np.ndarray,
                    same_set: bool) -> np.ndarray:
    """Per query, R: the gallery items of its class, itself excluded in a same-set search."""
    classes, counts = np.unique(gallery_labels, return_counts=True)
    position = np.minimum(np.searchsorted(classes, query_labels), len(classes) - 1)
    present = classes[position] == query_labels
    return np.where(present, counts[position], 0) - int(same_set)


def per_query_retrieval(queries: np.ndarray, query_labels: np.ndarray, ks: Sequence[int],
                        gallery: Optional[np.ndarray] = None,
                        gallery_labels: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """Per query: 1.0 or 0.0 for each Recall@K, and its AP@R (NaN where R = 0). Without a
    gallery, the queries are the gallery (a query never retrieves itself) and Recall@K
    counts every query; with one, queries of a class the gallery lacks are NaN throughout.
    One chunk of queries at a time (bounded memory)."""
    same_set = gallery is None
    gallery_labels = query_labels if same_set else gallery_labels
    r = relevant_counts(query_labels, gallery_labels, same_set)
    gallery_size = len(query_labels) - 1 if same_set else len(gallery_labels)
    k = min(gallery_size, max(max(ks), int(r.max())))
    values = {f"recall@{key}": np.zeros(len(query_labels)) for key in ks}
    values["map@r"] = np.zeros(len(query_labels))
    for start, neighbors in neighbor_chunks(queries, k, gallery):
        stop = start + len(neighbors)
        hits = gallery_labels[neighbors] == query_labels[start:stop, None]
        for key, found in recall_hits(hits, ks).items():
            values[f"recall@{key}"][start:stop] = found
        values["map@r"][start:stop] = average_precision_at_r(hits, r[start:stop])
    values["map@r"][r <= 0] = np.nan
    if not same_set:
        for name in values:
            values[name][r <= 0] = np.nan
    return values


def retrieval_metrics(queries: np.ndarray, query_labels: np.ndarray, ks: Sequence[int],
                      gallery: Optional[np.ndarray] = None,
                      gallery_labels: Optional[np.ndarray] = None) -> Dict[str, float]:
    """Recall@K for each K and MAP@R (see per_query_retrieval)."""
    values = per_query_retrieval(queries, query_labels, ks, gallery, gallery_labels)
    return {name: float(np.nanmean(per_query)) for name, per_query in values.items()}


def _check_array(embeddings: np.ndarray, labels: np.ndarray, what: str) -> None:
    """Raises UserError for embeddings and labels that are not numbers of matching size."""
    embeddings, labels = np.asarray(embeddings), np.asarray(labels)
    if embeddings.dtype.kind not in "fiub":
        raise UserError(f"{what} must be real numbers, got dtype {embeddings.dtype}")
    if embeddings.ndim != 2 or embeddings.shape[1] == 0:
        raise UserError(f"{what} must be a 2-D array [N, D] with D >= 1, got shape "
                        f"{embeddings.shape}")
    if len(embeddings) != len(labels):
        raise UserError(f"{len(embeddings)} {what} but {len(labels)} labels")
    if not np.isfinite(embeddings).all():
        raise UserError(f"{what} contain NaN or infinite values")
    if labels.dtype.kind not in "biuUSf":
        raise UserError(f"labels must be integers or strings without NaN, got dtype "
                        f"{labels.dtype}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise UserError(f"labels must be integers or strings without NaN, got dtype "
                        f"{labels.dtype} with NaN")


def check_inputs(embeddings: np.ndarray, labels: np.ndarray, ks: Sequence[int]) -> None:
    """Raises UserError for inputs no metric can be computed on, or only a wrong one."""
    _check_array(embeddings, labels, "embeddings")
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2:
        raise UserError("labels hold a single class; retrieval metrics need at least two")
    if counts.max() < 2:
        raise UserError("every label is unique: no query has another item of its class")
    if max(ks) > len(embeddings) - 1:
        raise UserError(f"recall K={max(ks)} exceeds the gallery of {len(embeddings) - 1} items")


def check_query_gallery(queries: np.ndarray, query_labels: np.ndarray, gallery: np.ndarray,
                        gallery_labels: np.ndarray, ks: Sequence[int]) -> int:
    """Raises UserError for a query and gallery no metric can be computed on; returns the
    number of queries whose class the gallery lacks (they are left out)."""
    _check_array(queries, query_labels, "query embeddings")
    _check_array(gallery, gallery_labels, "gallery embeddings")
    if np.shape(queries)[1] != np.shape(gallery)[1]:
        raise UserError(f"query embeddings have {np.shape(queries)[1]} dimensions, gallery "
                        f"embeddings {np.shape(gallery)[1]}")
    if max(ks) > len(gallery):
        raise UserError(f"recall K={max(ks)} exceeds the gallery of {len(gallery)} items")
    missing = int(np.sum(relevant_counts(np.asarray(query_labels), np.asarray(gallery_labels),
                                         same_set=False) == 0))
    if missing == len(query_labels):
        raise UserError("no query's class is in the gallery")
    return missing


def _check_settings(recall_ks: Sequence[int], bootstrap: int, kmeans_seed: int) -> None:
    """ValueError naming the argument for settings no evaluation can use."""
    def whole(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    if (isinstance(recall_ks, (str, bytes)) or not len(recall_ks)
            or not all(whole(k) and k >= 1 for k in recall_ks)):
        raise ValueError(f"recall_ks={recall_ks!r}: one or more whole numbers K >= 1")
    if not whole(bootstrap) or bootstrap < 0:
        raise ValueError(f"bootstrap={bootstrap!r}: a whole number of resamples, 0 for none")
    if not whole(kmeans_seed) or kmeans_seed < 0:
        raise ValueError(f"kmeans_seed={kmeans_seed!r}: a whole number >= 0")


def evaluate_embeddings(embeddings: np.ndarray, labels: np.ndarray,
                        recall_ks: Sequence[int] = (1, 2, 4, 8), clustering: bool = True,
                        kmeans_seed: int = 0, gallery: Optional[np.ndarray] = None,
                        gallery_labels: Optional[np.ndarray] = None,
                        bootstrap: int = 0) -> Dict[str, object]:
    """Every metric in [0, 1], and the counts behind them.

    Without `gallery` the embeddings are query and gallery both (a query never retrieves
    itself), with NMI and F1 of a k-means (k = number of classes) when `clustering`. With
    one, `embeddings` are the queries (the in-shop protocol): Recall@K and MAP@R only,
    queries of a class the gallery lacks left out and counted. With `bootstrap` > 0, each
    metric also gets "<name>_ci95", its 95 % bootstrap interval over that many resamples.
    """
    labels = np.asarray(labels).reshape(-1)
    _check_settings(recall_ks, bootstrap, kmeans_seed)
    same_set = gallery is None
    if same_set:
        check_inputs(embeddings, labels, recall_ks)
    else:
        gallery_labels = np.asarray(gallery_labels).reshape(-1)
        missing = check_query_gallery(embeddings, labels, gallery, gallery_labels, recall_ks)
        if missing:
            logging.warning("%d queries have a class the gallery lacks; they are left out",
                            missing)
        gallery = np.ascontiguousarray(l2_normalize(gallery))
    embeddings = np.ascontiguousarray(l2_normalize(embeddings))
    with stage("nearest neighbours"):
        per_query = per_query_retrieval(embeddings, labels, recall_ks, gallery, gallery_labels)
    metrics: Dict[str, object] = {name: float(np.nanmean(v)) for name, v in per_query.items()}
    if bootstrap:
        with stage("bootstrap"):
            for name, interval in bootstrap_intervals(per_query, bootstrap,
                                                      kmeans_seed).items():
                metrics[f"{name}_ci95"] = interval
    if same_set:
        num_classes = len(np.unique(labels))
        if clustering:
            logging.debug("k-means with k=%d on %d embeddings", num_classes, len(labels))
            with stage("clustering"):
                clusters = kmeans_clusters(embeddings, num_classes, seed=kmeans_seed)
                metrics["nmi"] = nmi(labels, clusters)
                metrics["f1"] = pairwise_f1(labels, clusters)
            if bootstrap:
                with stage("bootstrap"):
                    for name, interval in clustering_bootstrap_intervals(
                            labels, clusters, bootstrap, kmeans_seed).items():
                        metrics[f"{name}_ci95"] = interval
        metrics["num_test_images"] = int(len(labels))
        metrics["num_test_classes"] = num_classes
    else:
        metrics["num_queries"] = int(len(labels))
        metrics["num_gallery_images"] = int(len(gallery_labels))
        metrics["num_queries_without_gallery_class"] = missing
    return metrics
