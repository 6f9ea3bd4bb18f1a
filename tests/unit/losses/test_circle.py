"""Circle loss (Sun et al. 2020), added as one module (dvml_tf/losses/circle.py) and its
registration: against a slow reference of the paper's equation (value and gradient), with
a cross-batch memory, and equal to Keras 3's keras.losses.Circle where their settings
coincide (in tests/unit/models/test_circle_in_keras.py, which needs Keras 3)."""
import numpy as np
import pytest
import tensorflow as tf
from loss_references import numeric_gradient, random_batch, slow_circle, value_and_gradient

from dvml_tf.losses import metric


def _reduced(terms, reduction):
    counted = [t for t in terms if t is not None]
    return sum(counted) if reduction == "sum" else sum(counted) / len(counted)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("settings", [dict(circle_gamma=4.0, margin=0.25), dict()])
def test_circle_matches_the_slow_reference(settings, reduction):
    embeddings, labels = random_batch(spread=1.5)
    loss = metric.make_metric_loss("circle", metric_reduction=reduction, **settings)
    scales = dict(gamma=settings.get("circle_gamma", 80.0), margin=settings.get("margin", 0.4))

    def reference(x):
        return _reduced(slow_circle(x, labels, x, labels, lambda i, j: i == j, **scales),
                        reduction)

    value, gradient = value_and_gradient(loss.loss, embeddings, labels)
    assert value == pytest.approx(reference(embeddings), rel=1e-5)
    if settings:  # a small gamma keeps central differences accurate
        np.testing.assert_allclose(gradient, numeric_gradient(reference, embeddings),
                                   rtol=2e-2, atol=2e-4)


def test_an_anchor_alone_in_its_class_is_not_averaged_in():
    embeddings, labels = random_batch(classes=3, per_class=2)
    labels = labels.copy()
    labels[-1] = 99  # its class-mate now stands alone
    value = float(metric.make_metric_loss("circle").loss(tf.constant(embeddings),
                                                      tf.constant(labels)))
    terms = slow_circle(embeddings, labels, embeddings, labels, lambda i, j: i == j)
    assert terms[-1] is None and terms[-2] is None
    assert value == pytest.approx(_reduced(terms, "mean"), rel=1e-5)


def test_circle_pairs_the_batch_with_a_memory():
    batch, labels = random_batch(classes=2, per_class=2)
    memory, _ = random_batch(classes=3, per_class=2)
    memory_labels = np.array([labels[0], labels[0], labels[2], 77, 78, 79], np.int32)
    ignored = np.zeros((4, 6), bool)
    ignored[:, 5] = True  # an empty slot
    loss = metric.make_metric_loss("circle", metric_reduction="sum", circle_gamma=8.0)
    value = float(loss.memory_loss(tf.constant(batch), tf.constant(labels), tf.constant(memory),
                                 tf.constant(memory_labels), tf.constant(ignored)))
    expected = _reduced(slow_circle(batch, labels, memory, memory_labels,
                                    lambda i, j: j == 5, gamma=8.0), "sum")
    assert value == pytest.approx(expected, rel=1e-5) and value > 0


def test_circle_s_gamma_must_be_a_positive_scale():
    with pytest.raises(ValueError, match=r"^circle_gamma=0 must be positive"):
        metric.make_metric_loss("circle", circle_gamma=0)
