"""The Keras parts of today's losses: Proxy-Anchor's learning-rate multiplier under Adam,
and the cross-batch memory held by MetricLossLayer (tests/unit/losses/test_todays_losses.py
holds the Keras-free ones and the slow references)."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from loss_references import random_batch, slow_contrastive, slow_memory_after, slow_multi_similarity

from dvml_tf.errors import UserError
from dvml_tf.losses import metric
from dvml_tf.models.metric_loss_layer import MetricLossLayer


def test_the_proxy_learning_rate_multiplier_turns_the_proxies_that_much_faster():
    embeddings, labels = random_batch()
    turned = {}
    for multiplier in (1.0, 100.0):
        loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6,
                                       proxy_lr_multiplier=multiplier)
        proxies = loss.trainable_weights[0]
        before = proxies.numpy()
        with tf.GradientTape() as tape:
            value = loss.loss(tf.constant(embeddings), tf.constant(labels))
        keras.optimizers.Adam(1e-4).apply([tape.gradient(value, proxies)], [proxies])
        chord = np.linalg.norm(_unit_rows(before) - _unit_rows(proxies.numpy()), axis=1)
        turned[multiplier] = 2 * np.arcsin(chord / 2)  # the angle each proxy turned
    np.testing.assert_allclose(turned[100.0], 100 * turned[1.0], rtol=2e-2)


def _unit_rows(m):
    m = m.astype(np.float64)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _slow_memory_term(loss_name, reduction, anchors, anchor_labels, memory, memory_labels,
                      own):
    """The XBM authors' memory term, one pair at a time: every anchor against the memory
    that holds its batch, its own row (own[i], or None) excluded."""
    skip = lambda i, j: own[i] == j  # noqa: E731
    if loss_name == "multi_similarity":
        terms = slow_multi_similarity(anchors, anchor_labels, np.array(memory), memory_labels,
                                      skip)
        return terms.sum() if reduction == "sum" else terms.mean()
    return slow_contrastive(anchors, anchor_labels, memory, memory_labels, skip,
                            reduction=reduction)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("loss_name", ["multi_similarity", "contrastive"])
def test_the_memory_term_mines_memory_and_batch_together_as_the_xbm_authors_do(loss_name,
                                                                               reduction):
    """Five steps of 4-row batches through a memory of 7 (filling, then wrapping); one
    anchor's class is in no older row. Each step's loss is its batch's loss plus its term
    against the memory holding the older rows and the batch, each anchor's own row
    excluded (the slow reference)."""
    layer = MetricLossLayer(loss_name, embedding_dim=6, cross_batch_memory=7,
                            cross_batch_memory_start=1, metric_reduction=reduction)
    plain = layer.metric.loss
    history = []
    for step in range(5):
        embeddings, labels = random_batch(classes=2, per_class=2, spread=1.5)
        if step == 3:
            labels = np.array([41, 41, labels[2], labels[3]], np.int32)  # a class never seen
        step_tensor = tf.constant(step, tf.int64)
        value = float(layer.compute(embeddings, labels, step=step_tensor))
        batch_loss = float(plain(tf.constant(embeddings), tf.constant(labels), None))
        if step == 0:  # before its start step the memory is neither used nor filled
            assert value == pytest.approx(batch_loss, rel=1e-6)
        else:
            history.append((list(embeddings), list(labels)))
            memory, memory_labels, own = slow_memory_after(history, 7)
            reference = _slow_memory_term(loss_name, reduction, embeddings, labels, memory,
                                          memory_labels, own)
            assert value - batch_loss == pytest.approx(reference, rel=1e-4, abs=1e-6)
        layer.remember(embeddings, labels, step_tensor)
    assert int(layer.memory.written) == 16
    # The memory is no trained weight: no optimizer step changes it.
    assert layer.trainable_weights == []


def test_an_anchor_whose_class_is_not_in_the_memory_still_gets_its_hard_negatives():
    """Two class-0 anchors, the memory holding one class-1 row at cosine 0.994 to the first.
    Mined against the memory alone (no positive there) the first anchor would pay nothing;
    mined with its batch (its class-mate at cosine 0.8), that negative is kept."""
    layer = MetricLossLayer("multi_similarity", embedding_dim=3, cross_batch_memory=8,
                            metric_reduction="sum")
    step = tf.constant(0, tf.int64)
    near = np.array([[0.994, np.sqrt(1 - 0.994 ** 2), 0.0]], np.float32)
    layer.remember(near, np.array([1], np.int32), step)
    anchors = np.array([[1.0, 0.0, 0.0], [0.8, 0.0, 0.6]], np.float32)
    labels = np.array([0, 0], np.int32)
    value = float(layer.compute(anchors, labels, step=step))
    memory_term = value - float(layer.metric.loss(tf.constant(anchors),
                                                      tf.constant(labels), None))
    reference = slow_multi_similarity(anchors, labels, np.concatenate([near, anchors]),
                                      [1, 0, 0], lambda i, j: j == i + 1).sum()
    assert memory_term == pytest.approx(reference, rel=1e-5)
    assert memory_term > 0.3


def test_a_batch_larger_than_the_memory_leaves_its_first_anchors_no_own_row():
    layer = MetricLossLayer("contrastive", embedding_dim=6, cross_batch_memory=3,
                            metric_reduction="sum")
    embeddings, labels = random_batch(classes=2, per_class=2)
    step = tf.constant(0, tf.int64)
    memory_term = float(layer.compute(embeddings, labels, step=step)) - float(
        layer.metric.loss(tf.constant(embeddings), tf.constant(labels), None))
    memory, memory_labels, own = slow_memory_after([(list(embeddings), list(labels))], 3)
    assert own == [None, 0, 1, 2]
    assert memory_term == pytest.approx(
        _slow_memory_term("contrastive", "sum", embeddings, labels, memory, memory_labels,
                          own), rel=1e-5)


def test_cross_batch_memory_refuses_a_loss_it_cannot_pair():
    with pytest.raises(UserError, match="multi_similarity"):
        MetricLossLayer("triplet_semihard", embedding_dim=6, cross_batch_memory=8)
