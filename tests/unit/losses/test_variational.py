"""L1 (KL, eq. 8) and L2 (reconstruction, eq. 9) against NumPy references."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses.variational import kl_divergence, reconstruction_loss

RNG = np.random.default_rng(7)


def _numpy_kl(mu, log_var):
    return np.mean([
        sum(0.5 * (m * m + np.exp(lv) - lv - 1) for m, lv in zip(mu_row, lv_row))
        for mu_row, lv_row in zip(mu, log_var)
    ])


def test_kl_matches_numpy_reference():
    mu = RNG.normal(size=(6, 5)).astype(np.float32)
    log_var = RNG.normal(size=(6, 5)).astype(np.float32)
    assert kl_divergence(mu, log_var).numpy() == pytest.approx(_numpy_kl(mu, log_var), rel=1e-5)


def test_kl_is_zero_only_at_the_standard_normal_and_pulls_towards_it():
    zeros = tf.zeros([3, 4])
    assert kl_divergence(zeros, zeros).numpy() == pytest.approx(0.0, abs=1e-7)
    mu = tf.Variable(RNG.normal(size=(3, 4)).astype(np.float32))
    log_var = tf.Variable(RNG.normal(size=(3, 4)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = kl_divergence(mu, log_var)
    assert float(value) > 0.1
    grad_mu, grad_log_var = tape.gradient(value, [mu, log_var])
    # d/dmu = mu / B; d/dlog_var = (exp(log_var) - 1) / (2B): descent moves towards N(0, I).
    np.testing.assert_allclose(grad_mu.numpy(), mu.numpy() / 3, rtol=1e-5)
    np.testing.assert_allclose(grad_log_var.numpy(), (np.exp(log_var.numpy()) - 1) / 6,
                               rtol=1e-4)


def test_free_bits_floor_each_dimensions_batch_mean_kl_and_free_it_of_gradient():
    mu = tf.Variable([[0.1, 2.0, 0.0], [-0.1, 0.0, 0.0]])  # dimension 1: KLs 2 and 0
    log_var = tf.Variable([[0.0, 0.0, -3.0], [0.0, 0.0, -3.0]])
    with tf.GradientTape() as tape:
        value = kl_divergence(mu, log_var, free_bits=0.5)
    per_dimension = np.mean(0.5 * (mu.numpy() ** 2 + np.exp(log_var.numpy())
                                   - log_var.numpy() - 1), axis=0)
    assert per_dimension[0] < 0.5 < per_dimension[1] and per_dimension[2] > 0.5
    assert float(value) == pytest.approx(0.5 + per_dimension[1] + per_dimension[2], rel=1e-5)
    grad_mu, grad_log_var = tape.gradient(value, [mu, log_var])
    # Below the floor (dimension 0) the KL is free: no gradient; above it, the KL's own.
    np.testing.assert_array_equal(grad_mu.numpy()[:, 0], 0.0)
    np.testing.assert_allclose(grad_mu.numpy()[:, 1], mu.numpy()[:, 1] / 2, rtol=1e-5)
    np.testing.assert_allclose(grad_log_var.numpy()[:, 2],
                               (np.exp(log_var.numpy()[:, 2]) - 1) / 4, rtol=1e-5)
    assert float(kl_divergence(mu, log_var)) == pytest.approx(per_dimension.sum(), rel=1e-5)


def _errors():
    features = RNG.normal(size=(4, 7)).astype(np.float32)
    reconstructions = RNG.normal(size=(3, 4, 7)).astype(np.float32)
    return features, reconstructions


def test_reconstruction_is_the_euclidean_distance_by_default():
    features, reconstructions = _errors()
    expected = np.mean([np.linalg.norm(features[i] - reconstructions[t, i])
                        for t in range(3) for i in range(4)])
    assert reconstruction_loss(features, reconstructions).numpy() == pytest.approx(expected,
                                                                                    rel=1e-5)


def test_squared_reconstruction_matches_numpy_reference():
    features, reconstructions = _errors()
    expected = np.mean([np.sum((features[i] - reconstructions[t, i]) ** 2)
                        for t in range(3) for i in range(4)])
    value = reconstruction_loss(features, reconstructions, "squared").numpy()
    assert value == pytest.approx(expected, rel=1e-5)


def test_distance_gradient_is_the_unit_error_and_zero_at_a_perfect_reconstruction():
    features = RNG.normal(size=(2, 5)).astype(np.float32)
    reconstructions = tf.Variable(np.stack([features + 1.0, features]))
    with tf.GradientTape() as tape:
        loss = reconstruction_loss(features, reconstructions)
    grad = tape.gradient(loss, reconstructions).numpy()
    # d ||e|| / d x_hat = e / ||e||, over T x B = 4 terms; e = 1 in every dim.
    np.testing.assert_allclose(grad[0], np.full((2, 5), 1 / np.sqrt(5) / 4), rtol=1e-5)
    np.testing.assert_array_equal(grad[1], 0.0)


def test_reconstruction_target_is_constant():
    features = tf.Variable(RNG.normal(size=(4, 7)).astype(np.float32))
    reconstructions = tf.Variable(RNG.normal(size=(2, 4, 7)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = reconstruction_loss(features, reconstructions)
    grad_features, grad_reconstructions = tape.gradient(loss, [features, reconstructions])
    assert grad_features is None
    assert np.abs(grad_reconstructions.numpy()).sum() > 0
