"""Parity with TF-Addons on the reference stack (TensorFlow 2.15, where it imports; Keras 3
and TF-Addons never share an environment): each standard loss of dvml_tf/losses/standard.py
gives TF-Addons' value and gradient, and a short training loop written with
tf.GradientTape on plain variables (no Keras) reaches the same weights with either backend."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses import standard
from dvml_tf.losses.backend import tfa_losses
from dvml_tf.losses.metric import make_metric_loss

TFA = tfa_losses()
pytestmark = pytest.mark.skipif(TFA is None, reason="TF-Addons does not import on this stack")
RNG = np.random.default_rng(13)

BATCHES = {
    "repeated labels": RNG.integers(0, 4, 16),
    "a class with one image": np.array([0, 0, 1, 1, 2, 3, 3, 3]),
    "an anchor with no valid negative": np.array([0, 0, 0, 0, 1]),
    "all labels equal": np.zeros(6, int),
    "a batch of two": np.array([4, 4]),
    "a batch of two classes": np.array([4, 7]),
}
# name -> (call of a loss module on (labels, embeddings)); the triplets as the model calls them.
LOSSES = {
    "triplet_semihard": lambda m, y, x: m.triplet_semihard_loss(y, x, margin=0.2,
                                                                distance_metric="squared-L2"),
    "triplet_semihard_l2": lambda m, y, x: m.triplet_semihard_loss(y, x, margin=1.0),
    "triplet_hard": lambda m, y, x: m.triplet_hard_loss(y, x, margin=0.2,
                                                        distance_metric="squared-L2"),
    "triplet_hard_soft": lambda m, y, x: m.triplet_hard_loss(y, x, soft=True),
    "npairs": lambda m, y, x: m.npairs_loss(y, tf.matmul(x, x, transpose_b=True)),
    "lifted": lambda m, y, x: m.lifted_struct_loss(y, x, margin=1.0),
    "contrastive": lambda m, y, x: tf.reduce_sum(m.contrastive_loss(
        tf.cast(tf.equal(y[:, None], y[None, :]), tf.float32),
        tf.norm(x[:, None] - x[None, :] + 1e-6, axis=-1), margin=1.0)),
}


def _value_and_gradient(module, loss, labels, embeddings):
    x = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = LOSSES[loss](module, tf.constant(labels, tf.int32), x)
    return value.numpy(), tape.gradient(value, x).numpy()


@pytest.mark.parametrize("batch", sorted(BATCHES))
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_value_and_gradient_equal_tf_addons(loss, batch):
    labels = BATCHES[batch]
    embeddings = RNG.normal(size=(len(labels), 5)).astype(np.float32)
    theirs = _value_and_gradient(TFA, loss, labels, embeddings)
    ours = _value_and_gradient(standard, loss, labels, embeddings)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    if loss == "lifted" and len(set(labels)) == 1:
        # No negative pair: both values are NaN (log 0); TF-Addons' gradient is NaN too,
        # ours zero. A NaN loss is a skipped step with either.
        assert np.isnan(ours[0]) and np.all(ours[1] == 0)
        return
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)


def _train_without_keras(loss, backend, reduction, steps=8):
    """SGD on a two-layer network of plain tf.Variables (tanh hidden layer), P x K batches
    of 4 classes x 2 random 12-d inputs; the weights after `steps` steps. A summed loss is
    about as many times larger as it has terms (up to 56 here): its step is smaller, so
    that both backends' float rounding is not amplified into different weights."""
    rng = np.random.default_rng(5)
    hidden = tf.Variable(rng.normal(0, 0.5, (12, 16)).astype(np.float32))
    output = tf.Variable(rng.normal(0, 0.5, (16, 6)).astype(np.float32))
    metric_loss = make_metric_loss(loss, metric_loss_backend=backend, metric_reduction=reduction)
    for step in range(steps):
        inputs = tf.constant(rng.normal(size=(8, 12)).astype(np.float32))
        labels = tf.constant(np.repeat(rng.choice(10, 4, replace=False), 2).astype(np.int32))
        with tf.GradientTape() as tape:
            value = metric_loss.loss(tf.tanh(inputs @ hidden) @ output, labels, [0, step])
        for variable, gradient in zip((hidden, output), tape.gradient(value, (hidden, output))):
            # Plain SGD: Adam would turn float rounding in near-zero gradients into full steps.
            variable.assign_sub((0.05 if reduction == "mean" else 0.002) * gradient)
    return hidden.numpy(), output.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss", ["triplet_semihard", "triplet_hard", "npairs", "lifted",
                                  "contrastive"])
def test_training_without_keras_reaches_the_same_weights_with_either_backend(loss, reduction):
    theirs = _train_without_keras(loss, "tfa", reduction)
    ours = _train_without_keras(loss, "own", reduction)
    untrained = _train_without_keras(loss, "own", reduction, steps=0)
    assert not np.allclose(ours[1], untrained[1])  # the loop trains
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
