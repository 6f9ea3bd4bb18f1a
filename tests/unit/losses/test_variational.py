"""L1 (KL, eq. 8) and L2 (reconstruction, eq. 9) against NumPy references."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses.variational import kl_divergence, reconstruction_loss

RNG = np.random.default_rng(7)


def test_kl_matches_numpy_reference():
    mu = RNG.normal(size=(6, 5)).astype(np.float32)
    log_var = RNG.normal(size=(6, 5)).astype(np.float32)
    expected = np.mean([
        sum(0.5 * (m * m + np.exp(lv) - lv - 1) for m, lv in zip(mu_row, lv_row))
        for mu_row, lv_row in zip(mu, log_var)
    ])
    assert kl_divergence(mu, log_var).numpy() == pytest.approx(expected, rel=1e-5)


def test_kl_is_zero_for_standard_normal():
    zeros = tf.zeros([3, 4])
    assert kl_divergence(zeros, zeros).numpy() == pytest.approx(0.0, abs=1e-7)


def test_reconstruction_matches_numpy_reference():
    features = RNG.normal(size=(4, 7)).astype(np.float32)
    reconstructions = RNG.normal(size=(3, 4, 7)).astype(np.float32)
    total = 0.0
    for t in range(3):
        for i in range(4):
            total += np.sum((features[i] - reconstructions[t, i]) ** 2)
    expected = total / (3 * 4)
    value = reconstruction_loss(features, reconstructions).numpy()
    assert value == pytest.approx(expected, rel=1e-5)


def test_reconstruction_target_is_constant():
    features = tf.Variable(RNG.normal(size=(4, 7)).astype(np.float32))
    reconstructions = tf.Variable(RNG.normal(size=(2, 4, 7)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = reconstruction_loss(features, reconstructions)
    grad_features, grad_reconstructions = tape.gradient(loss, [features, reconstructions])
    assert grad_features is None
    assert np.abs(grad_reconstructions.numpy()).sum() > 0
