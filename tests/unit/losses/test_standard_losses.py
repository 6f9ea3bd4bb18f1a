"""The package's own standard metric losses (dvml_tf/losses/standard.py) against slow,
obvious NumPy references written from the papers, on every stack."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses import standard

RNG = np.random.default_rng(5)
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])  # class 3 has a single image


def _distances(x, squared):
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    return d if squared else np.sqrt(d)


def semihard_reference(labels, x, margin, squared):
    d = _distances(x.astype(np.float64), squared)
    terms = []
    for a in range(len(x)):
        negatives = [d[a, n] for n in range(len(x)) if labels[n] != labels[a]]
        for p in range(len(x)):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [v for v in negatives if v > d[a, p]]
            chosen = min(farther) if farther else (max(negatives) if negatives else 0.0)
            terms.append(max(margin + d[a, p] - chosen, 0.0))
    return np.mean(terms)


def hard_reference(labels, x, margin, squared):
    d = _distances(x.astype(np.float64), squared)
    terms = []
    for a in range(len(x)):
        positives = [d[a, p] for p in range(len(x)) if p != a and labels[p] == labels[a]]
        negatives = [d[a, n] for n in range(len(x)) if labels[n] != labels[a]]
        terms.append(max((max(positives) if positives else 0.0)
                         - (min(negatives) if negatives else d[a].max()) + margin, 0.0))
    return np.mean(terms)


def npairs_reference(labels, similarity):
    total = 0.0
    for i in range(len(labels)):
        same = labels == labels[i]
        log_softmax = similarity[i] - np.log(np.exp(similarity[i]).sum())
        total -= (log_softmax * same).sum() / same.sum()
    return total / len(labels)


def lifted_reference(labels, x, margin):
    d = _distances(x.astype(np.float64), squared=False)
    terms = []
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            if labels[i] != labels[j]:
                continue
            total = sum(np.exp(margin - d[i, k]) for k in range(len(x)) if labels[k] != labels[i])
            total += sum(np.exp(margin - d[j, k]) for k in range(len(x)) if labels[k] != labels[j])
            terms.append(max(np.log(total) + d[i, j], 0.0) ** 2)
    return np.sum(terms) / (2 * len(terms))


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("loss,reference", [
    (standard.triplet_semihard_loss, semihard_reference),
    (standard.triplet_hard_loss, hard_reference),
])
def test_triplet_losses_match_references(loss, reference, squared):
    x = RNG.normal(size=(12, 4)).astype(np.float32)
    value = loss(LABELS, x, margin=0.3, distance_metric="squared-L2" if squared else "L2")
    assert float(value) == pytest.approx(reference(LABELS, x, 0.3, squared), rel=1e-5)


def test_anchor_without_negative_uses_zero_distance():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    labels = np.zeros(3, int)
    expected = semihard_reference(labels, x, 0.2, squared=True)
    assert float(standard.triplet_semihard_loss(labels, x, 0.2, "squared-L2")) == \
        pytest.approx(expected, rel=1e-5)


def test_npairs_matches_reference():
    labels = np.array([0, 1, 2, 2, 3])
    similarity = RNG.normal(size=(5, 5)).astype(np.float32)
    assert float(standard.npairs_loss(labels, similarity)) == pytest.approx(
        npairs_reference(labels, similarity.astype(np.float64)), rel=1e-5)


def test_lifted_matches_reference():
    x = RNG.normal(size=(12, 4)).astype(np.float32)
    assert float(standard.lifted_struct_loss(LABELS, x, margin=1.0)) == pytest.approx(
        lifted_reference(LABELS, x, 1.0), rel=1e-5)


def test_contrastive_is_per_pair():
    distances = np.array([0.1, 0.3, 0.9], np.float32)
    same = np.array([1, 0, 0])
    expected = [0.01, (0.5 - 0.3) ** 2, 0.0]
    np.testing.assert_allclose(standard.contrastive_loss(same, distances, margin=0.5), expected,
                               rtol=1e-6)


def test_gradients_are_finite_where_points_coincide():
    x = tf.constant(np.repeat(RNG.normal(size=(4, 3)), 2, axis=0).astype(np.float32))
    labels = np.repeat(np.arange(4), 2)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = (standard.triplet_semihard_loss(labels, x, 0.2)
                 + standard.triplet_hard_loss(labels, x, 0.2)
                 + standard.lifted_struct_loss(labels, x))
    assert np.isfinite(tape.gradient(total, x).numpy()).all()
