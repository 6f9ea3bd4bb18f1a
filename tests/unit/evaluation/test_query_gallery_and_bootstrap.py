"""Separate query and gallery sets (the in-shop protocol) against a slow reference with
ties, and bootstrap intervals of every metric."""
import numpy as np
import pytest

from dvml_tf.errors import UserError
from dvml_tf.evaluation import metrics

RNG = np.random.default_rng(21)


def reference(queries, query_labels, gallery, gallery_labels, ks):
    """Recall@K and MAP@R by sorting every query's distances to the whole gallery, ties
    broken by gallery order; queries of a class the gallery lacks are left out."""
    recalls, aps = {k: [] for k in ks}, []
    for query, label in zip(queries, query_labels):
        r = int(np.sum(gallery_labels == label))
        if r == 0:
            continue
        distances = -(gallery @ query)  # exact: see _exact_unit_vectors
        order = np.lexsort((np.arange(len(gallery)), distances))
        hits = gallery_labels[order] == label
        for k in ks:
            recalls[k].append(hits[:k].any())
        precision = np.cumsum(hits[:r]) / np.arange(1, r + 1)
        aps.append((precision * hits[:r]).sum() / r)
    result = {f"recall@{k}": float(np.mean(v)) for k, v in recalls.items()}
    result["map@r"] = float(np.mean(aps))
    return result


def _exact_unit_vectors(count, dim=8):
    """Unit vectors of four entries +-1/2: already normalised, and every dot product a
    multiple of 1/4, so tied distances stay exactly tied in float32 on any machine."""
    vectors = np.zeros((count, dim), np.float32)
    for row in vectors:
        row[RNG.choice(dim, 4, replace=False)] = RNG.choice([-0.5, 0.5], 4)
    return vectors


def _sets():
    # Many exactly tied distances; class 9 is only in the queries.
    gallery = _exact_unit_vectors(60)
    gallery_labels = RNG.integers(0, 6, 60)
    queries = _exact_unit_vectors(25)
    query_labels = np.concatenate([RNG.integers(0, 6, 22), [9, 9, 9]])
    return queries, query_labels, gallery, gallery_labels


def test_query_gallery_metrics_match_the_slow_reference_with_ties():
    queries, query_labels, gallery, gallery_labels = _sets()
    ks = (1, 2, 4, 8)
    expected = reference(queries, query_labels, gallery, gallery_labels, ks)
    got = metrics.evaluate_embeddings(queries, query_labels, ks, gallery=gallery,
                                      gallery_labels=gallery_labels)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    assert got["num_queries_without_gallery_class"] == 3 and got["num_queries"] == 25


def test_a_query_matches_itself_only_in_a_separate_gallery():
    embeddings = RNG.normal(size=(30, 5)).astype(np.float32)
    labels = np.repeat(np.arange(10), 3)
    same = metrics.evaluate_embeddings(embeddings, labels, (1,), clustering=False)
    separate = metrics.evaluate_embeddings(embeddings, labels, (1,), gallery=embeddings,
                                           gallery_labels=labels)
    assert separate["recall@1"] == 1.0 and same["recall@1"] < 1.0


@pytest.mark.parametrize("gallery_dim,labels,message", [
    (6, None, "query embeddings have 5 dimensions, gallery embeddings 6"),
    (5, np.full(20, 99), "no query's class is in the gallery"),
])
def test_bad_query_gallery_pairs_are_one_line(gallery_dim, labels, message):
    queries = RNG.normal(size=(20, 5))
    gallery = RNG.normal(size=(40, gallery_dim))
    with pytest.raises(UserError, match=message):
        metrics.evaluate_embeddings(queries, np.arange(20) % 4 if labels is None else labels,
                                    (1,), gallery=gallery, gallery_labels=np.arange(40) % 4)


def _clustered(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n // 4), 4)
    return rng.normal(scale=1.0, size=(n, 8)) + rng.normal(size=(n // 4, 8))[labels], labels


def test_bootstrap_intervals_hold_the_estimate_repeat_and_shrink():
    small = metrics.evaluate_embeddings(*_clustered(200, 0), (1, 2), bootstrap=200)
    again = metrics.evaluate_embeddings(*_clustered(200, 0), (1, 2), bootstrap=200)
    large = metrics.evaluate_embeddings(*_clustered(3200, 0), (1, 2), bootstrap=200)
    for name in ("recall@1", "recall@2", "map@r", "nmi", "f1"):
        low, high = small[f"{name}_ci95"]
        assert low <= small[name] <= high, name
        assert again[f"{name}_ci95"] == small[f"{name}_ci95"], name
        assert np.diff(large[f"{name}_ci95"]) < np.diff(small[f"{name}_ci95"]), name
