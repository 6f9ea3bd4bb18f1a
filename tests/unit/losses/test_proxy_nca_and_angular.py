"""Proxy-NCA (Movshovitz-Attias et al. 2017) and the angular loss (Wang et al. 2017)
against slow, obvious references written loop by loop from the papers."""
import math

import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.losses import metric
from dvml_tf.losses.proxy_nca import PROXY_SCALE

RNG = np.random.default_rng(3)


def _unit(v):
    return v / np.linalg.norm(v)


def slow_proxy_nca(embeddings, labels, proxies):
    losses = []
    for x, y in zip(embeddings, labels):
        x = PROXY_SCALE * _unit(x)
        distance = [np.sum((x - PROXY_SCALE * _unit(p)) ** 2) for p in proxies]
        others = sum(math.exp(-d) for z, d in enumerate(distance) if z != y)
        losses.append(-math.log(math.exp(-distance[y]) / others))
    return np.array(losses)


def slow_angular(embeddings, labels, images_per_class, alpha_degrees):
    tan2 = math.tan(math.radians(alpha_degrees)) ** 2
    classes = sorted(set(labels))
    first_two = {c: [i for i, y in enumerate(labels) if y == c][:2] for c in classes}
    losses = []
    for c in classes:
        a, p = (_unit(embeddings[i]) for i in first_two[c])
        total = 0.0
        for other in classes:
            if other == c:
                continue
            for n in (_unit(embeddings[i]) for i in first_two[other]):
                total += math.exp(4 * tan2 * np.dot(a + p, n) - 2 * (1 + tan2) * np.dot(a, p))
        losses.append(math.log(1 + total))
    return np.array(losses)


def _batch(classes=5, per_class=3, dim=6):
    labels = np.repeat(RNG.permutation(9)[:classes], per_class).astype(np.int32)
    embeddings = RNG.normal(size=(classes * per_class, dim)).astype(np.float32)
    return embeddings, labels


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_proxy_nca_matches_the_slow_reference(reduction):
    embeddings, labels = _batch()
    loss = metric.make_metric_loss("proxy_nca", num_proxies=9, embedding_dim=6,
                                   metric_reduction=reduction)
    proxies = loss.trainable_weights[0]
    proxies.assign(RNG.normal(size=(9, 6)).astype(np.float32))
    expected = slow_proxy_nca(embeddings, labels, proxies.numpy())
    value = float(loss.loss(tf.constant(embeddings), tf.constant(labels)))
    reduce = np.sum if reduction == "sum" else np.mean
    assert value == pytest.approx(reduce(expected), rel=1e-4)


def _mean_cosine(proxy, embeddings):
    return np.mean([_unit(proxy) @ _unit(e) for e in embeddings])


def test_proxy_nca_pulls_a_class_proxy_towards_its_class():
    embeddings, labels = _batch()
    loss = metric.make_metric_loss("proxy_nca", num_proxies=9, embedding_dim=6)
    proxies = loss.trainable_weights[0]
    with tf.GradientTape() as tape:
        value = loss.loss(tf.constant(embeddings), tf.constant(labels))
    gradient = tape.gradient(value, proxies).numpy()
    stepped = proxies.numpy() - 0.1 * gradient
    own = labels[0]
    members = embeddings[labels == own]
    assert _mean_cosine(stepped[own], members) > _mean_cosine(proxies.numpy()[own], members)


@pytest.mark.parametrize("alpha", [36.0, 45.0, 55.0])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_angular_matches_the_slow_reference(alpha, reduction):
    embeddings, labels = _batch()
    loss = metric.make_metric_loss("angular", margin=alpha, images_per_class=3,
                                   metric_reduction=reduction)
    expected = slow_angular(embeddings, labels, 3, alpha)
    value = float(loss.loss(tf.constant(embeddings), tf.constant(labels)))
    reduce = np.sum if reduction == "sum" else np.mean
    assert value == pytest.approx(reduce(expected), rel=1e-4)


def test_angular_default_alpha_is_45_degrees():
    embeddings, labels = _batch()
    default = metric.make_metric_loss("angular", images_per_class=3)
    value = float(default.loss(tf.constant(embeddings), tf.constant(labels)))
    assert value == pytest.approx(np.mean(slow_angular(embeddings, labels, 3, 45.0)), rel=1e-4)
