"""Multi-Similarity (Wang et al. 2019), Proxy-Anchor (Kim et al. 2020) and cross-batch
memory (Wang et al. 2020) against slow, obvious references written loop by loop from the
papers' equations (value and gradient), and the properties the papers state. Keras-free,
so they run on the reference stack too; their Keras parts: tests/unit/models/
test_todays_losses_in_keras.py."""
import math

import numpy as np
import pytest
import tensorflow as tf
from loss_references import (
    RNG,
    numeric_gradient,
    random_batch,
    slow_multi_similarity,
    slow_proxy_anchor,
    unit,
    value_and_gradient,
)

from dvml_tf.losses import metric
from dvml_tf.losses.cross_batch_memory import CrossBatchMemory
from dvml_tf.losses.multi_similarity import MultiSimilarityLoss
from dvml_tf.losses.pairs import memory_pairs


# Small scales keep the references' exp() in float64 range and the gradient smooth enough
# for central differences; the defaults are checked on the value alone.
@pytest.mark.parametrize("scales", [dict(ms_alpha=2.0, ms_beta=5.0, ms_lambda=0.5),
                                    dict()])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multi_similarity_matches_the_slow_reference(scales, reduction):
    embeddings, labels = random_batch(spread=1.5)
    loss = metric.make_metric_loss("multi_similarity", metric_reduction=reduction, **scales)
    reference_scales = dict(alpha=scales.get("ms_alpha", 2.0), beta=scales.get("ms_beta", 50.0),
                            base=scales.get("ms_lambda", 1.0))

    def reference(x):
        terms = slow_multi_similarity(x, labels, x, labels, lambda i, j: i == j,
                                      **reference_scales)
        return terms.sum() if reduction == "sum" else terms.mean()

    value, gradient = value_and_gradient(loss.loss, embeddings, labels)
    assert value == pytest.approx(reference(embeddings), rel=1e-5)
    assert value > 0
    if scales:
        np.testing.assert_allclose(gradient, numeric_gradient(reference, embeddings),
                                   rtol=2e-2, atol=2e-4)


def test_multi_similarity_gives_no_weight_to_a_pair_outside_the_epsilon_margin():
    # Anchor 0: positive 1 at similarity 0.9, the only negative 2 at 0.5: the positive is
    # easier than the hardest negative plus epsilon (0.9 - 0.1 >= 0.5), so it is not
    # mined; the negative is farther than the hardest positive minus epsilon (0.5 + 0.1 <=
    # 0.9), so neither is it. Anchor 0 then pays nothing and moves nothing.
    embeddings = np.array([[1.0, 0.0], [0.9, math.sqrt(1 - 0.81)],
                           [0.5, -math.sqrt(1 - 0.25)]], np.float32)
    labels = np.array([0, 0, 1], np.int32)
    loss = metric.make_metric_loss("multi_similarity", metric_reduction="sum")
    terms = slow_multi_similarity(embeddings, labels, embeddings, labels, lambda i, j: i == j)
    assert terms[0] == 0.0
    x = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(x)
        anchor_zero = MultiSimilarityLoss().terms(memory_pairs(
            x, labels, tf.stop_gradient(x), labels, tf.cast(tf.eye(3), tf.bool)))[0]
    assert float(anchor_zero) == 0.0
    assert np.all(tape.gradient(anchor_zero, x).numpy() == 0.0)
    # Moving the negative within the margin (similarity 0.85) makes both pairs count.
    embeddings[2] = [0.85, -math.sqrt(1 - 0.85 ** 2)]
    value = float(loss.loss(tf.constant(embeddings), tf.constant(labels)))
    assert value == pytest.approx(
        slow_multi_similarity(embeddings, labels, embeddings, labels,
                              lambda i, j: i == j).sum(), rel=1e-5)
    assert slow_multi_similarity(embeddings, labels, embeddings, labels,
                                 lambda i, j: i == j)[0] > 0


def test_multi_similarity_pairs_no_image_with_itself():
    # Anchor 0's positive at similarity 0.2, its negative at 0.95: both mined. Were the
    # anchor its own positive (similarity 1 > 0.95 - 0.1), a third term would count.
    def at(cosine, sign=1):
        return [cosine, sign * math.sqrt(1 - cosine ** 2)]

    embeddings = np.array([[1.0, 0.0], at(0.2), at(0.95, -1)], np.float32)
    labels = np.array([0, 0, 1], np.int32)
    loss = metric.make_metric_loss("multi_similarity", metric_reduction="sum")
    expected = slow_multi_similarity(embeddings, labels, embeddings, labels,
                                     lambda i, j: i == j)
    assert expected[0] == pytest.approx(math.log(1 + math.exp(-2 * (0.2 - 1))) / 2
                                        + math.log(1 + math.exp(50 * (0.95 - 1))) / 50)
    assert float(loss.loss(tf.constant(embeddings), tf.constant(labels))) == pytest.approx(
        expected.sum(), rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_proxy_anchor_matches_the_slow_reference(reduction):
    embeddings, labels = random_batch()
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6,
                                   metric_reduction=reduction, proxy_anchor_alpha=4.0)
    proxies = RNG.normal(size=(9, 6)).astype(np.float32)
    loss.trainable_weights[0].assign(proxies)

    def reference(x, p=proxies):
        return slow_proxy_anchor(x, labels, p, alpha=4.0, reduction=reduction)

    value, gradient = value_and_gradient(loss.loss, embeddings, labels)
    assert value == pytest.approx(reference(embeddings), rel=1e-5)
    np.testing.assert_allclose(gradient, numeric_gradient(reference, embeddings),
                               rtol=2e-2, atol=2e-4)
    # The gradient on the proxies, through the held table p / multiplier.
    held = loss.trainable_weights[0]
    with tf.GradientTape() as tape:
        value = loss.loss(tf.constant(embeddings), tf.constant(labels))
    on_proxies = tape.gradient(value, held).numpy()
    np.testing.assert_allclose(
        on_proxies, numeric_gradient(lambda p: reference(embeddings, p), proxies),
        rtol=2e-2, atol=2e-4)


def test_proxy_anchor_paper_defaults_match_the_slow_reference():
    embeddings, labels = random_batch()
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6)
    proxies = loss.trainable_weights[0].numpy()
    assert float(loss.loss(tf.constant(embeddings), tf.constant(labels))) == pytest.approx(
        slow_proxy_anchor(embeddings, labels, proxies), rel=1e-5)


def test_proxy_anchor_gradients_reach_every_proxy_of_a_class_in_the_batch():
    # One batch of classes 0-3; proxies 0-3 are positives, 4-8 only negatives: every one
    # is an anchor for the whole batch, unlike Proxy-NCA, where a proxy of a class not in
    # the batch moves only as a negative of each embedding.
    embeddings, _ = random_batch(classes=4)
    labels = np.repeat(np.arange(4), 3).astype(np.int32)
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6)
    held = loss.trainable_weights[0]
    with tf.GradientTape() as tape:
        value = loss.loss(tf.constant(embeddings), tf.constant(labels))
    gradient = tape.gradient(value, held).numpy()
    assert np.all(np.linalg.norm(gradient, axis=1) > 0)
    # A class's own positive term pulls its proxy towards its images.
    own = tf.constant(embeddings[labels == 0])
    with tf.GradientTape() as tape:
        value = loss.loss(own, tf.zeros([3], tf.int32))
    towards = -tape.gradient(value, held).numpy()[0]
    centre = np.mean([unit(e) for e in embeddings[labels == 0]], axis=0)
    assert np.dot(towards, centre) > 0


def test_the_memory_holds_exactly_the_last_n_rows():
    memory = CrossBatchMemory(5, 2, lambda name, initial: tf.Variable(initial))
    seen = []
    for batch in range(4):
        rows = np.full((3, 2), batch, np.float32) + np.arange(3)[:, None] / 10
        memory.enqueue(tf.constant(rows), tf.constant([batch * 10 + i for i in range(3)]))
        seen += [batch * 10 + i for i in range(3)]
        embeddings, labels, filled = (t.numpy() for t in memory.contents())
        held = sorted(labels[filled].tolist())
        assert held == sorted(seen[-5:])
        for label, row in zip(labels[filled], embeddings[filled]):
            assert row[0] == pytest.approx(label // 10 + (label % 10) / 10)
    # A batch larger than the memory leaves its last rows.
    memory.enqueue(tf.constant(np.repeat(np.arange(7.0, dtype=np.float32), 2).reshape(7, 2)),
                   tf.constant(np.arange(7)))
    embeddings, labels, _ = (t.numpy() for t in memory.contents())
    assert sorted(labels.tolist()) == [2, 3, 4, 5, 6]
    np.testing.assert_array_equal(embeddings[:, 0], labels)
    # A step that is skipped leaves it as it was.
    memory.enqueue(tf.constant(np.zeros((2, 2), np.float32)), tf.constant([90, 91]),
                   when=tf.constant(False))
    assert sorted(memory.contents()[1].numpy().tolist()) == [2, 3, 4, 5, 6]
