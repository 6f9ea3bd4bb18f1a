"""Each metric loss fed what its TF-Addons-style function expects (from TF-Addons or the
package's own, whichever backend runs here), as the paper defines it."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses import metric
from dvml_tf.losses.backend import loss_functions

BACKEND = loss_functions("auto")

RNG = np.random.default_rng(7)


class Spy:
    """Records the arguments of a wrapped TF-Addons loss."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)


def _batch(classes=4, per_class=3, dim=5):
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    embeddings = RNG.normal(size=(classes * per_class, dim)).astype(np.float32) * 3
    return tf.constant(embeddings), tf.constant(labels)


@pytest.mark.parametrize("name,function", [("triplet_semihard", "triplet_semihard_loss"),
                                           ("triplet_hard", "triplet_hard_loss")])
def test_triplet_losses_get_unit_embeddings(monkeypatch, name, function):
    spy = Spy(getattr(BACKEND, function))
    monkeypatch.setattr(BACKEND, function, spy)
    embeddings, labels = _batch()
    loss = metric.make_metric_loss(name, margin=0.3).loss(embeddings, labels)
    (fed_labels, fed_embeddings), kwargs = spy.calls[0]
    np.testing.assert_allclose(np.linalg.norm(fed_embeddings.numpy(), axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fed_labels.numpy(), labels.numpy())
    assert kwargs["margin"] == 0.3
    assert kwargs["distance_metric"] == "squared-L2"
    assert np.isfinite(loss.numpy())


def test_triplet_hard_matches_a_slow_reference_on_squared_distances():
    embeddings, labels = _batch()
    value = metric.make_metric_loss("triplet_hard", margin=0.2).loss(embeddings, labels).numpy()
    e = embeddings.numpy() / np.linalg.norm(embeddings.numpy(), axis=1, keepdims=True)
    y = labels.numpy()
    per_anchor = []
    for a in range(len(e)):
        squared = [float(np.sum((e[a] - e[j]) ** 2)) for j in range(len(e))]
        hardest_positive = max(squared[j] for j in range(len(e)) if y[j] == y[a] and j != a)
        hardest_negative = min(squared[j] for j in range(len(e)) if y[j] != y[a])
        per_anchor.append(max(hardest_positive - hardest_negative + 0.2, 0.0))
    assert value == pytest.approx(np.mean(per_anchor), rel=1e-4)


def test_npairs_gets_anchor_positive_similarity_matrix(monkeypatch):
    spy = Spy(BACKEND.npairs_loss)
    monkeypatch.setattr(BACKEND, "npairs_loss", spy)
    embeddings, labels = _batch(classes=4, per_class=3)
    loss = metric.make_metric_loss("npairs", images_per_class=3, npairs_l2_reg=0.0)
    value = loss.loss(embeddings, labels).numpy()
    (fed_labels, similarity), _ = spy.calls[0]
    e = embeddings.numpy()
    anchors, positives = e[0::3], e[1::3]
    np.testing.assert_allclose(similarity.numpy(), anchors @ positives.T, rtol=1e-5)
    np.testing.assert_array_equal(fed_labels.numpy(), [0, 1, 2, 3])
    # Sohn's N-pair loss: softmax cross-entropy of each anchor over all positives.
    logits = anchors @ positives.T
    log_softmax = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                  keepdims=True)) - logits.max(1, keepdims=True)
    assert value == pytest.approx(-np.mean(np.diag(log_softmax)), rel=1e-4)


def test_npairs_l2_penalty_matches_sohn():
    embeddings, labels = _batch(classes=3, per_class=2)
    plain = metric.make_metric_loss("npairs", images_per_class=2, npairs_l2_reg=0.0)
    penalised = metric.make_metric_loss("npairs", images_per_class=2, npairs_l2_reg=0.01)
    e = embeddings.numpy()
    penalty = 0.25 * 0.01 * ((e[0::2] ** 2).sum(1).mean() + (e[1::2] ** 2).sum(1).mean())
    difference = penalised.loss(embeddings, labels).numpy() - plain.loss(embeddings, labels).numpy()
    assert difference == pytest.approx(penalty, rel=1e-4)


def test_lifted_gets_raw_embeddings(monkeypatch):
    spy = Spy(BACKEND.lifted_struct_loss)
    monkeypatch.setattr(BACKEND, "lifted_struct_loss", spy)
    embeddings, labels = _batch()
    metric.make_metric_loss("lifted").loss(embeddings, labels)
    (fed_labels, fed_embeddings), kwargs = spy.calls[0]
    np.testing.assert_array_equal(fed_embeddings.numpy(), embeddings.numpy())
    assert kwargs["margin"] == 1.0


def test_contrastive_gets_pair_labels_and_distances(monkeypatch):
    spy = Spy(BACKEND.contrastive_loss)
    monkeypatch.setattr(BACKEND, "contrastive_loss", spy)
    embeddings, labels = _batch(classes=2, per_class=2)
    value = metric.make_metric_loss("contrastive", margin=0.5).loss(embeddings, labels).numpy()
    (pair_labels, distances), _ = spy.calls[0]
    unit = embeddings.numpy() / np.linalg.norm(embeddings.numpy(), axis=1, keepdims=True)
    y = labels.numpy()
    # Every (i, j) of the batch, i != j, one class: 1.
    np.testing.assert_array_equal(pair_labels.numpy(), (y[:, None] == y[None, :]) & ~np.eye(
        4, dtype=bool))
    expected_d = np.linalg.norm(unit[:, None] - unit[None, :], axis=-1)
    off_diagonal = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(distances.numpy()[off_diagonal], expected_d[off_diagonal],
                               rtol=1e-4)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    positive = np.mean([expected_d[i, j] ** 2 for i, j in pairs if y[i] == y[j]])
    negative = np.mean([max(0.5 - expected_d[i, j], 0) ** 2 for i, j in pairs if y[i] != y[j]])
    assert value == pytest.approx(positive + negative, rel=1e-4)


def test_unknown_metric_loss_is_a_user_error():
    with pytest.raises(UserError, match="metric_loss='arcface' is unknown"):
        metric.make_metric_loss("arcface")


# name -> the number of terms the mean of that loss averages over, on _batch()'s 4 x 3.
TERMS_PER_BATCH = {"triplet_semihard": 4 * 3 * 2, "triplet_hard": 12, "npairs": 4,
                   "lifted": 4 * 3 * 2, "proxy_nca": 12, "angular": 4}


@pytest.mark.parametrize("name", sorted(TERMS_PER_BATCH))
def test_sum_reduction_adds_the_terms_the_mean_averages(name):
    embeddings, labels = _batch()
    options = dict(images_per_class=3, num_proxies=4, embedding_dim=5)
    mean = metric.make_metric_loss(name, **options)
    summed = metric.make_metric_loss(name, metric_reduction="sum", **options)
    if name == "proxy_nca":
        summed.trainable_weights[0].assign(mean.trainable_weights[0])
    value = float(summed.loss(embeddings, labels))
    assert value == pytest.approx(TERMS_PER_BATCH[name] * float(mean.loss(embeddings, labels)),
                                  rel=1e-5)


def test_contrastive_sum_adds_every_pair():
    embeddings, labels = _batch()
    unit = tf.math.l2_normalize(embeddings, axis=-1).numpy()
    expected = 0.0
    for i in range(12):
        for j in range(i + 1, 12):
            d = np.linalg.norm(unit[i] - unit[j])
            expected += d ** 2 if labels[i] == labels[j] else max(0.5 - d, 0.0) ** 2
    summed = metric.make_metric_loss("contrastive", metric_reduction="sum")
    value = float(summed.loss(embeddings, labels))
    assert value == pytest.approx(expected, rel=1e-4)


def test_margin_dws_sum_and_mean_match_a_count_of_the_drawn_terms():
    """Sum: every positive pair's and its drawn negative's hinge added; mean: that total over
    the terms that are non-zero, counted here in NumPy from the same draws."""
    from dvml_tf.losses.margin_dws import INITIAL_BETA, negative_log_weights
    from dvml_tf.losses.standard import pairwise_distances

    rng = np.random.default_rng(7)  # its own: the module's RNG depends on the tests run before
    labels = tf.constant(np.repeat(np.arange(4), 3).astype(np.int32))
    # Tight classes: their positive pairs' hinges are zero, so the count of terms matters.
    embeddings = tf.constant((np.repeat(rng.normal(size=(4, 5)), 3, axis=0)
                              + 0.1 * rng.normal(size=(12, 5))).astype(np.float32))
    seed = tf.constant([1, 2], tf.int64)
    unit = tf.math.l2_normalize(embeddings, axis=-1)
    distances = pairwise_distances(unit, squared=False)
    negatives = tf.random.stateless_categorical(
        negative_log_weights(distances, labels, unit.shape[1]), len(labels), seed,
        dtype=tf.int32).numpy()
    d, y = distances.numpy(), labels.numpy()
    positive, negative = [], []
    for i in range(len(y)):
        for j in range(len(y)):
            if i != j and y[i] == y[j]:
                positive.append(max(0.0, 0.2 + d[i, j] - INITIAL_BETA))
                negative.append(max(0.0, 0.2 + INITIAL_BETA - d[i, negatives[i, j]]))
    terms = np.array(positive + negative)
    summed = metric.make_metric_loss("margin_dws", metric_reduction="sum")
    total = float(summed.loss(embeddings, labels, seed))
    mean = float(metric.make_metric_loss("margin_dws").loss(embeddings, labels, seed))
    assert 0 < np.count_nonzero(terms) < len(terms)  # some terms are zero: the count matters
    assert total == pytest.approx(terms.sum(), rel=1e-5)
    assert mean == pytest.approx(terms.sum() / np.count_nonzero(terms), rel=1e-5)


def test_unknown_reduction_is_one_line():
    with pytest.raises(UserError, match=r"^metric_reduction='median' is unknown"):
        metric.make_metric_loss("triplet_hard", metric_reduction="median")
