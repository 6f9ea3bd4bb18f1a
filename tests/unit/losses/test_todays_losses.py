"""Multi-Similarity (Wang et al. 2019), Proxy-Anchor (Kim et al. 2020) and cross-batch
memory (Wang et al. 2020) against slow, obvious references written loop by loop from the
papers' equations (value and gradient), and the properties the papers state."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses import metric
from dvml_tf.losses.cross_batch_memory import CrossBatchMemory
from dvml_tf.losses.multi_similarity import multi_similarity_terms
from dvml_tf.models.metric_loss_layer import MetricLossLayer

RNG = np.random.default_rng(5)


def _unit(v):
    return v / np.linalg.norm(v)


def slow_multi_similarity(anchors, anchor_labels, candidates, candidate_labels, skip,
                          alpha=2.0, beta=50.0, base=1.0, epsilon=0.1):
    """Eqs. 5-7 of Wang et al. 2019, one anchor at a time; skip(i, j): no pair."""
    losses = []
    for i, (a, y) in enumerate(zip(anchors, anchor_labels)):
        s = {j: float(np.dot(_unit(a), _unit(c))) for j, c in enumerate(candidates)
             if not skip(i, j)}
        positives = [j for j in s if candidate_labels[j] == y]
        negatives = [j for j in s if candidate_labels[j] != y]
        hardest_negative = max((s[k] for k in negatives), default=-math.inf)
        hardest_positive = min((s[j] for j in positives), default=math.inf)
        kept_p = [j for j in positives if s[j] - epsilon < hardest_negative]
        kept_n = [k for k in negatives if s[k] + epsilon > hardest_positive]
        losses.append(
            math.log(1 + sum(math.exp(-alpha * (s[j] - base)) for j in kept_p)) / alpha
            + math.log(1 + sum(math.exp(beta * (s[k] - base)) for k in kept_n)) / beta)
    return np.array(losses)


def slow_proxy_anchor(embeddings, labels, proxies, alpha=32.0, delta=0.1, reduction="mean"):
    """Eq. 4 of Kim et al. 2020, one proxy at a time; "sum" adds the proxies' terms."""
    positive, negative, in_batch = 0.0, 0.0, 0
    for c, p in enumerate(proxies):
        s = [float(np.dot(_unit(x), _unit(p))) for x in embeddings]
        own = [v for v, y in zip(s, labels) if y == c]
        other = [v for v, y in zip(s, labels) if y != c]
        if own:
            in_batch += 1
            positive += math.log(1 + sum(math.exp(-alpha * (v - delta)) for v in own))
        negative += math.log(1 + sum(math.exp(alpha * (v + delta)) for v in other))
    if reduction == "sum":
        return positive + negative
    return positive / in_batch + negative / len(proxies)


def _batch(classes=4, per_class=3, dim=6, spread=1.0):
    labels = np.repeat(RNG.permutation(9)[:classes], per_class).astype(np.int32)
    centres = RNG.normal(size=(9, dim))
    embeddings = centres[labels] + spread * RNG.normal(size=(classes * per_class, dim))
    return embeddings.astype(np.float32), labels


def _numeric_gradient(f, x, h=1e-3):
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        up, down = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def _value_and_gradient(fn, embeddings, labels):
    x = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x, tf.constant(labels))
    return float(value), tape.gradient(value, x).numpy()


# Small scales keep the references' exp() in float64 range and the gradient smooth enough
# for central differences; the defaults are checked on the value alone.
@pytest.mark.parametrize("scales", [dict(ms_alpha=2.0, ms_beta=5.0, ms_base=0.5),
                                    dict()])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_multi_similarity_matches_the_slow_reference(scales, reduction):
    embeddings, labels = _batch(spread=1.5)
    loss = metric.make_metric_loss("multi_similarity", reduction=reduction, **scales)
    reference_scales = dict(alpha=scales.get("ms_alpha", 2.0), beta=scales.get("ms_beta", 50.0),
                            base=scales.get("ms_base", 1.0))

    def reference(x):
        terms = slow_multi_similarity(x, labels, x, labels, lambda i, j: i == j,
                                      **reference_scales)
        return terms.sum() if reduction == "sum" else terms.mean()

    value, gradient = _value_and_gradient(loss.fn, embeddings, labels)
    assert value == pytest.approx(reference(embeddings), rel=1e-5)
    assert value > 0
    if scales:
        np.testing.assert_allclose(gradient, _numeric_gradient(reference, embeddings),
                                   rtol=2e-2, atol=2e-4)


def test_multi_similarity_gives_no_weight_to_a_pair_outside_the_epsilon_margin():
    # Anchor 0: positive 1 at similarity 0.9, the only negative 2 at 0.5: the positive is
    # easier than the hardest negative plus epsilon (0.9 - 0.1 >= 0.5), so it is not
    # mined; the negative is farther than the hardest positive minus epsilon (0.5 + 0.1 <=
    # 0.9), so neither is it. Anchor 0 then pays nothing and moves nothing.
    embeddings = np.array([[1.0, 0.0], [0.9, math.sqrt(1 - 0.81)],
                           [0.5, -math.sqrt(1 - 0.25)]], np.float32)
    labels = np.array([0, 0, 1], np.int32)
    loss = metric.make_metric_loss("multi_similarity", reduction="sum")
    terms = slow_multi_similarity(embeddings, labels, embeddings, labels, lambda i, j: i == j)
    assert terms[0] == 0.0
    x = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(x)
        anchor_zero = multi_similarity_terms(
            x, labels, tf.stop_gradient(x), labels, tf.cast(tf.eye(3), tf.bool))[0]
    assert float(anchor_zero) == 0.0
    assert np.all(tape.gradient(anchor_zero, x).numpy() == 0.0)
    # Moving the negative within the margin (similarity 0.85) makes both pairs count.
    embeddings[2] = [0.85, -math.sqrt(1 - 0.85 ** 2)]
    value = float(loss.fn(tf.constant(embeddings), tf.constant(labels)))
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
    loss = metric.make_metric_loss("multi_similarity", reduction="sum")
    expected = slow_multi_similarity(embeddings, labels, embeddings, labels,
                                     lambda i, j: i == j)
    assert expected[0] == pytest.approx(math.log(1 + math.exp(-2 * (0.2 - 1))) / 2
                                        + math.log(1 + math.exp(50 * (0.95 - 1))) / 50)
    assert float(loss.fn(tf.constant(embeddings), tf.constant(labels))) == pytest.approx(
        expected.sum(), rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_proxy_anchor_matches_the_slow_reference(reduction):
    embeddings, labels = _batch()
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6,
                                   reduction=reduction, proxy_anchor_alpha=4.0)
    proxies = RNG.normal(size=(9, 6)).astype(np.float32)
    loss.variables[0].assign(proxies)

    def reference(x, p=proxies):
        return slow_proxy_anchor(x, labels, p, alpha=4.0, reduction=reduction)

    value, gradient = _value_and_gradient(loss.fn, embeddings, labels)
    assert value == pytest.approx(reference(embeddings), rel=1e-5)
    np.testing.assert_allclose(gradient, _numeric_gradient(reference, embeddings),
                               rtol=2e-2, atol=2e-4)
    # The gradient on the proxies, through the held table p / multiplier.
    held = loss.variables[0]
    with tf.GradientTape() as tape:
        value = loss.fn(tf.constant(embeddings), tf.constant(labels))
    on_proxies = tape.gradient(value, held).numpy()
    np.testing.assert_allclose(
        on_proxies, _numeric_gradient(lambda p: reference(embeddings, p), proxies),
        rtol=2e-2, atol=2e-4)


def test_proxy_anchor_paper_defaults_match_the_slow_reference():
    embeddings, labels = _batch()
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6)
    proxies = loss.variables[0].numpy()
    assert float(loss.fn(tf.constant(embeddings), tf.constant(labels))) == pytest.approx(
        slow_proxy_anchor(embeddings, labels, proxies), rel=1e-5)


def test_proxy_anchor_gradients_reach_every_proxy_of_a_class_in_the_batch():
    # One batch of classes 0-3; proxies 0-3 are positives, 4-8 only negatives: every one
    # is an anchor for the whole batch, unlike Proxy-NCA, where a proxy of a class not in
    # the batch moves only as a negative of each embedding.
    embeddings, _ = _batch(classes=4)
    labels = np.repeat(np.arange(4), 3).astype(np.int32)
    loss = metric.make_metric_loss("proxy_anchor", num_proxies=9, embedding_dim=6)
    held = loss.variables[0]
    with tf.GradientTape() as tape:
        value = loss.fn(tf.constant(embeddings), tf.constant(labels))
    gradient = tape.gradient(value, held).numpy()
    assert np.all(np.linalg.norm(gradient, axis=1) > 0)
    # A class's own positive term pulls its proxy towards its images.
    own = tf.constant(embeddings[labels == 0])
    with tf.GradientTape() as tape:
        value = loss.fn(own, tf.zeros([3], tf.int32))
    towards = -tape.gradient(value, held).numpy()[0]
    centre = np.mean([_unit(e) for e in embeddings[labels == 0]], axis=0)
    assert np.dot(towards, centre) > 0


def test_the_proxy_learning_rate_multiplier_turns_the_proxies_that_much_faster():
    embeddings, labels = _batch()
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


@pytest.mark.parametrize("loss_name", ["multi_similarity", "contrastive"])
def test_the_memory_term_pairs_the_batch_with_the_previous_batches_only(loss_name):
    layer = MetricLossLayer(loss_name, embedding_dim=6, cross_batch_memory=8,
                            cross_batch_memory_start=1, reduction="sum")
    first, first_labels = _batch(classes=2, per_class=2)
    second, second_labels = _batch(classes=2, per_class=2)
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
