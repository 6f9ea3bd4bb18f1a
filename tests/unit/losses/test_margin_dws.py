"""Triplet2 + DWS: the margin loss against a slow reference, and the sampler against 1/q(d)."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses import margin_dws
from dvml_tf.losses.metric import make_metric_loss
from dvml_tf.losses.standard import pairwise_distances

RNG = np.random.default_rng(11)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_margin_loss_matches_slow_reference_given_the_draws():
    embeddings = RNG.normal(size=(12, 6)).astype(np.float32)
    labels = np.repeat(np.arange(4), 3).astype(np.int32)
    seed = tf.constant([3, 9], tf.int64)
    loss = make_metric_loss("margin_dws", margin=0.2)
    beta = float(loss.trainable_weights[0].numpy())
    value = float(loss.loss(tf.constant(embeddings), tf.constant(labels), seed))
    # The same draws as the loss makes: one negative per (anchor, positive) column.
    unit = _unit(embeddings.astype(np.float64))
    d = np.sqrt(np.maximum(((unit[:, None] - unit[None]) ** 2).sum(-1), 1e-12))
    logits = margin_dws.negative_log_weights(tf.constant(d, tf.float32), tf.constant(labels), 6)
    draws = tf.random.stateless_categorical(logits, 12, seed, dtype=tf.int32).numpy()
    terms = []
    for i in range(12):
        for j in range(12):
            if i != j and labels[i] == labels[j]:
                terms.append(max(0.0, 0.2 + d[i, j] - beta))
                terms.append(max(0.0, 0.2 + beta - d[i, draws[i, j]]))
                assert labels[draws[i, j]] != labels[i]
    nonzero = [t for t in terms if t > 0]
    assert value == pytest.approx(sum(nonzero) / max(1, len(nonzero)), rel=1e-4)


def test_distance_weighted_sampling_follows_inverse_density():
    dim = 8
    anchor = np.eye(dim)[0]
    # Negatives at chosen distances from the anchor (unit vectors in the first two axes).
    targets = np.array([0.3, 0.7, 1.0, 1.3, 1.6])
    angles = 2 * np.arcsin(targets / 2)
    negatives = np.stack([np.cos(angles), np.sin(angles)] + [np.zeros(5)] * (dim - 2), 1)
    unit = np.vstack([anchor, negatives]).astype(np.float32)
    labels = tf.constant([0, 1, 2, 3, 4, 5])
    d = pairwise_distances(tf.constant(unit), squared=False)
    draws = tf.random.stateless_categorical(margin_dws.negative_log_weights(d, labels, dim)[:1],
                                            40000, tf.constant([1, 2], tf.int64)).numpy()[0]
    counts = np.bincount(draws, minlength=6)[1:] / 40000
    clipped = np.maximum(targets, 0.5)
    inverse_q = 1.0 / (clipped ** (dim - 2) * (1 - clipped ** 2 / 4) ** ((dim - 3) / 2))
    expected = np.where(targets < 1.4, inverse_q, 0.0)
    np.testing.assert_allclose(counts, expected / expected.sum(), atol=0.01)
    assert counts[-1] == 0  # beyond the non-zero-loss cutoff
