"""Parity with TF-Addons on the reference stack (TensorFlow 2.15, where it imports): each
standard loss of dvml_tf/losses/standard.py gives TF-Addons' value and gradient, and a short
training run reaches the same weights with either backend."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model

from dvml_tf.keras_api import keras
from dvml_tf.losses import standard
from dvml_tf.losses.backend import tfa_losses

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


@pytest.mark.parametrize("loss", ["triplet_semihard", "triplet_hard", "npairs", "lifted",
                                  "contrastive"])
def test_training_reaches_the_same_weights_with_either_backend(loss):
    images, labels = tiny_batch(classes=4, per_class=2)
    weights = {}
    for backend in ("tfa", "own"):
        model = tiny_model(metric_loss=loss, metric_loss_backend=backend)
        # Plain SGD: Adam would turn float rounding in near-zero gradients into full steps.
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        model.optimizer.build(model.trainable_variables)
        for _ in range(3):
            model.train_step((tf.constant(images), tf.constant(labels)))
        weights[backend] = [v.numpy() for v in model.trainable_variables]
    for theirs, ours in zip(weights["tfa"], weights["own"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
