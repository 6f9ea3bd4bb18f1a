"""The Keras parts of today's losses: Proxy-Anchor's learning-rate multiplier under Adam,
and the cross-batch memory held by MetricLossLayer (tests/unit/losses/test_todays_losses.py
holds the Keras-free ones and the slow references)."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from loss_references import random_batch, slow_multi_similarity

from dvml_tf.errors import UserError
from dvml_tf.losses import metric
from dvml_tf.models.metric_loss_layer import MetricLossLayer


def test_the_proxy_learning_rate_multiplier_turns_the_proxies_that_much_faster():
    embeddings, labels = random_batch()
    turned = {}
    for multiplier in (1.0, 100.0):
        loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6,
                                       proxy_lr_multiplier=multiplier)
        proxies = loss.variables[0]
        before = proxies.numpy()
        with tf.GradientTape() as tape:
            value = loss.fn(tf.constant(embeddings), tf.constant(labels))
        keras.optimizers.Adam(1e-4).apply([tape.gradient(value, proxies)], [proxies])
        chord = np.linalg.norm(_unit_rows(before) - _unit_rows(proxies.numpy()), axis=1)
        turned[multiplier] = 2 * np.arcsin(chord / 2)  # the angle each proxy turned
    np.testing.assert_allclose(turned[100.0], 100 * turned[1.0], rtol=2e-2)


def _unit_rows(m):
    m = m.astype(np.float64)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.mark.parametrize("loss_name", ["multi_similarity", "contrastive"])
def test_the_memory_term_pairs_the_batch_with_the_previous_batches_only(loss_name):
    layer = MetricLossLayer(loss_name, embedding_dim=6, cross_batch_memory=8,
                            cross_batch_memory_start=1, reduction="sum")
    first, first_labels = random_batch(classes=2, per_class=2)
    second, second_labels = random_batch(classes=2, per_class=2)
    plain = layer._metric_loss.fn
    step0, step1 = tf.constant(0, tf.int64), tf.constant(1, tf.int64)
    # Before its start step the memory is neither used nor filled.
    assert float(layer.compute(first, first_labels, step=step0)) == pytest.approx(
        float(plain(tf.constant(first), tf.constant(first_labels), None)))
    layer.remember(first, first_labels, step0)
    assert int(layer.memory.written) == 0
    layer.remember(first, first_labels, step1)
    assert float(layer.compute(first, first_labels, step=step0)) == pytest.approx(
        float(plain(tf.constant(first), tf.constant(first_labels), None)))
    # From then on: the batch's loss plus its loss against the memory, which holds the
    # previous batch and not the current one.
    value = float(layer.compute(second, second_labels, step=step1))
    memory_term = float(layer._metric_loss.memory_fn(
        tf.constant(second), tf.constant(second_labels), tf.constant(first),
        tf.constant(first_labels), tf.ones([4], tf.bool)))
    assert value == pytest.approx(
        float(plain(tf.constant(second), tf.constant(second_labels), None)) + memory_term,
        rel=1e-5)
    if loss_name == "multi_similarity":
        reference = slow_multi_similarity(second, second_labels, first, first_labels,
                                          lambda i, j: False).sum()
        assert memory_term == pytest.approx(reference, rel=1e-5)
    # The memory is no trained weight: no optimizer step changes it.
    assert layer.trainable_weights == []


def test_cross_batch_memory_refuses_a_loss_it_cannot_pair():
    with pytest.raises(UserError, match="multi_similarity"):
        MetricLossLayer("triplet_semihard", embedding_dim=6, cross_batch_memory=8)
