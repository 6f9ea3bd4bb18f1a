"""The fused batch norm equals Keras 3's BatchNormalization: outputs and gradients in
training and inference, and the moving statistics it keeps."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.models.fused_batch_norm import FusedBatchNormalization


def _pair(**options):
    inputs = np.random.default_rng(0).normal(2.0, 3.0, (6, 5, 4, 8)).astype(np.float32)
    layers = (keras.layers.BatchNormalization(**options),
              FusedBatchNormalization(**options))
    for layer in layers:
        layer.build(inputs.shape)
        for weight, value in zip(layer.weights, (1.5, -0.5, 0.3, 2.0)):
            weight.assign(tf.fill(weight.shape, value))
    return tf.constant(inputs), layers


@pytest.mark.parametrize("options", [{}, {"scale": False}, {"center": False, "momentum": 0.9}])
@pytest.mark.parametrize("training", [True, False])
def test_fused_equals_keras_batch_normalization(options, training):
    inputs, (theirs, ours) = _pair(**options)
    weights = tf.constant(np.random.default_rng(1).normal(size=inputs.shape).astype(np.float32))
    results = []
    initial = [w.numpy() for w in ours.non_trainable_weights]
    for layer in (theirs, ours):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs, training=training)
            loss = tf.reduce_sum(outputs * weights)
        gradients = tape.gradient(loss, [inputs] + layer.trainable_weights)
        results.append((outputs, gradients, [w.numpy() for w in layer.non_trainable_weights]))
    (outputs_a, gradients_a, moving_a), (outputs_b, gradients_b, moving_b) = results
    np.testing.assert_allclose(outputs_b, outputs_a, rtol=1e-5, atol=1e-5)
    for a, b in zip(gradients_a, gradients_b):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    for a, b in zip(moving_a, moving_b):
        np.testing.assert_allclose(b, a, rtol=1e-6)
    moved = [not np.array_equal(a, b) for a, b in zip(initial, moving_b)]
    assert moved == [training, training]  # the moving statistics move only in training


def test_a_frozen_layer_normalises_with_its_moving_statistics_in_training_too():
    """trainable=False (a frozen backbone): training=True must neither use the batch's
    statistics nor update the moving ones."""
    layer = FusedBatchNormalization()
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 2)).astype(np.float32)
    layer.build(x.shape)
    layer.trainable = False
    out = layer(x, training=True).numpy()
    np.testing.assert_allclose(out, x / np.sqrt(1.0 + layer.epsilon), rtol=1e-5)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(2))
