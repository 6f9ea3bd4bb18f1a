"""Metrics against slow, obvious references and hand-computed cases."""
import itertools

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from dvml_tf.errors import UserError
from dvml_tf.evaluation import metrics as evaluation
from dvml_tf.evaluation.clustering import nmi, pairwise_f1


def _slow_neighbours(embeddings):
    """Every query's other items by (distance, index), from the full distance matrix."""
    x = evaluation.l2_normalize(embeddings).astype(np.float64)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    return [sorted((j for j in range(len(x)) if j != i), key=lambda j: (round(d[i, j], 5), j))
            for i in range(len(x))]


def _tied_data(seed=0):
    """Many exact ties: embeddings drawn from a few distinct vectors; small classes."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(6, 4)).astype(np.float32)
    embeddings = prototypes[rng.integers(0, 6, 60)]
    labels = rng.integers(0, 9, 60)
    return embeddings, labels


def test_recall_at_k_matches_slow_reference_with_ties():
    embeddings, labels = _tied_data()
    neighbours = _slow_neighbours(embeddings)
    got = evaluation.evaluate_embeddings(embeddings, labels, (1, 2, 4, 8), clustering=False)
    for k in (1, 2, 4, 8):
        expected = np.mean([any(labels[j] == labels[i] for j in nb[:k])
                            for i, nb in enumerate(neighbours)])
        assert got[f"recall@{k}"] == pytest.approx(expected)


def test_map_at_r_matches_slow_reference_with_ties():
    embeddings, labels = _tied_data(seed=1)
    neighbours = _slow_neighbours(embeddings)
    per_query = []
    for i, nb in enumerate(neighbours):
        r = int(np.sum(labels == labels[i])) - 1
        if r == 0:
            continue
        hits, total = 0, 0.0
        for rank, j in enumerate(nb[:r], start=1):
            if labels[j] == labels[i]:
                hits += 1
                total += hits / rank
        per_query.append(total / r)
    got = evaluation.evaluate_embeddings(embeddings, labels, (1,), clustering=False)
    assert got["map@r"] == pytest.approx(np.mean(per_query))


def test_average_precision_at_r_hand_computed():
    # R per query: 2, 2, 1, 2, 1; only the first R neighbours count.
    hits = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1], [0, 1, 1, 0], [0, 0, 0, 1]], bool)
    r = np.array([2, 2, 1, 2, 1])
    np.testing.assert_allclose(evaluation.average_precision_at_r(hits, r),
                               [0.5, 1.0, 0.0, 0.25, 0.0])


def test_recall_hits_hand_computed():
    hits = np.array([[0, 1], [0, 0], [1, 0]], bool)
    found = evaluation.recall_hits(hits, (1, 2))
    assert {k: int(v.sum()) for k, v in found.items()} == {1: 1, 2: 2}
    np.testing.assert_array_equal(found[1], [False, False, True])


def test_ties_beyond_the_search_margin_break_by_index():
    # 50 identical vectors and 10 others: every query's nearest are the smallest other ids.
    embeddings = np.ones((60, 4), np.float32)
    embeddings[50:] = -1
    neighbors = evaluation.nearest_neighbors(evaluation.l2_normalize(embeddings), 3)
    np.testing.assert_array_equal(neighbors[0], [1, 2, 3])
    np.testing.assert_array_equal(neighbors[7], [0, 1, 2])
    np.testing.assert_array_equal(neighbors[55], [50, 51, 52])


def test_chunked_retrieval_equals_one_chunk(monkeypatch):
    embeddings, labels = _tied_data(seed=3)
    whole = evaluation.evaluate_embeddings(embeddings, labels, (1, 4), clustering=False)
    monkeypatch.setattr(evaluation, "QUERY_CHUNK", 7)
    assert evaluation.evaluate_embeddings(embeddings, labels, (1, 4), clustering=False) == whole


def _brute_force_f1(labels, clusters):
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(labels)), 2):
        same_class, same_cluster = labels[i] == labels[j], clusters[i] == clusters[j]
        tp += same_class and same_cluster
        fp += same_cluster and not same_class
        fn += same_class and not same_cluster
    return 2 * tp / (2 * tp + fp + fn)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nmi_and_f1_against_references(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 120)
    clusters = np.where(rng.random(120) < 0.6, labels, rng.integers(0, 6, 120)) + 40
    assert nmi(labels, clusters) == pytest.approx(
        normalized_mutual_info_score(labels, clusters), rel=1e-9)
    assert pairwise_f1(labels, clusters) == pytest.approx(
        _brute_force_f1(labels, clusters))


def test_perfect_clusters_score_one():
    labels = np.repeat([3, 5, 9], 4)
    assert nmi(labels, labels + 10) == pytest.approx(1.0)
    assert pairwise_f1(labels, labels * 2) == pytest.approx(1.0)


def test_separated_embeddings_score_perfectly():
    rng = np.random.default_rng(0)
    centres = np.eye(5, 16, dtype=np.float32) * 10
    labels = np.repeat(np.arange(5), 20)
    embeddings = centres[labels] + rng.normal(scale=0.01, size=(100, 16)).astype(np.float32)
    metrics = evaluation.evaluate_embeddings(embeddings, labels)
    for key in ("recall@1", "recall@8", "map@r", "nmi", "f1"):
        assert metrics[key] == pytest.approx(1.0)
    assert metrics["num_test_images"] == 100 and metrics["num_test_classes"] == 5


@pytest.mark.parametrize("embeddings,labels,ks,message", [
    (np.zeros((4, 2)), np.array([0, 0, 1]), (1,), "4 embeddings but 3 labels"),
    (np.array([[np.nan, 0], [0, 1], [1, 1]]), np.array([0, 1, 1]), (1,), "NaN"),
    (np.ones((3, 2)), np.array([1, 1, 1]), (1,), "single class"),
    (np.ones((3, 2)), np.array([0, 1, 1]), (1, 5), "K=5 exceeds"),
])
def test_bad_inputs_are_user_errors(embeddings, labels, ks, message):
    with pytest.raises(UserError, match=message):
        evaluation.evaluate_embeddings(embeddings, labels, ks)


class LargestIdsFirstIndex:
    """A stand-in index whose every item is at the same distance, returned largest id first."""

    ntotal = 40

    def search(self, queries, k):
        ids = np.tile(np.arange(self.ntotal)[::-1][:k], (len(queries), 1))
        return np.zeros(ids.shape, np.float32), ids


def test_search_widens_until_ties_resolve_by_smallest_id():
    neighbors = evaluation._search_chunk(LargestIdsFirstIndex(), np.zeros((2, 4), np.float32),
                                         np.array([0, 5]), k=3)
    np.testing.assert_array_equal(neighbors, [[1, 2, 3], [0, 1, 2]])
