"""Circle loss equal to Keras 3's keras.losses.Circle where their settings coincide (unit
embeddings, the mean over anchors with pairs), value and gradient; usable with and
without DVML."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model
from loss_references import random_batch

import dvml_tf
from dvml_tf.losses import metric


@pytest.mark.parametrize("gamma,margin", [(80.0, 0.4), (16.0, 0.25)])
def test_circle_equals_keras_circle_in_value_and_gradient(gamma, margin):
    """Keras's takes unit embeddings; ours normalises its input: both of raw embeddings."""
    embeddings, labels = random_batch(classes=4, per_class=3, spread=0.8)
    raw = tf.constant(embeddings)
    unit = tf.math.l2_normalize(raw, axis=-1)
    ours = metric.make_metric_loss("circle", margin=margin, circle_gamma=gamma)
    theirs = keras.losses.Circle(gamma=gamma, margin=margin)
    values, gradients = [], []
    for fn in (lambda x: ours.loss(x, tf.constant(labels)),
               lambda x: theirs(tf.constant(labels), tf.math.l2_normalize(x, axis=-1))):
        with tf.GradientTape() as tape:
            tape.watch(raw)
            value = fn(raw)
        values.append(float(value))
        gradients.append(tape.gradient(value, raw).numpy())
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-4, atol=1e-6)
    # The Keras-loss face of it, by name.
    assert float(dvml_tf.MetricLoss("circle", margin=margin,
                                    circle_gamma=gamma)(labels, unit)) == (
        pytest.approx(values[1], rel=1e-5))


@pytest.mark.parametrize("dvml", [True, False])
def test_circle_is_dvml_s_metric_loss_with_and_without_dvml(dvml):
    model = tiny_model(dvml=dvml, metric_loss="circle")
    images, labels = tiny_batch()
    step = model.steps_taken.value
    terms, z_invariant = model.losses_and_embeddings(tf.constant(images), tf.constant(labels),
                                                     step)
    expected = model.metric_loss.metric.loss(z_invariant, tf.constant(labels))
    assert float(terms["metric_loss"]) == pytest.approx(float(expected), rel=1e-6)
    assert (float(terms["synthesized_metric_loss"]) > 0) == dvml
    before = [w.copy() for w in model.encoder.get_weights()]
    model.train_step((tf.constant(images), tf.constant(labels)))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.encoder.get_weights()))
