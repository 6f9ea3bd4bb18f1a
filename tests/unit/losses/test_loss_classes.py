"""Every metric loss is one registered, serializable class with named parameters, built on
one pair view and one reducer, and the by-name factory maps the command line's settings
onto its parameters."""
import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses import base, metric
from dvml_tf.losses.multi_similarity import MultiSimilarityLoss
from dvml_tf.losses.proxy_anchor import ProxyAnchorLoss

RNG = np.random.default_rng(3)
PROXIES = dict(num_proxies=6, embedding_dim=5)


def _batch():
    labels = np.repeat(np.arange(4), 2).astype(np.int32)
    return tf.constant(RNG.normal(size=(8, 5)).astype(np.float32)), tf.constant(labels)


def _by_name(name, **settings):
    return metric.make_metric_loss(name, **(PROXIES if name in metric.PROXY_LOSSES else {}),
                                   **settings)


@pytest.mark.parametrize("name", metric.METRIC_LOSSES)
def test_each_loss_is_a_registered_class_whose_config_rebuilds_it(name):
    import keras

    loss = _by_name(name, metric_reduction="sum")
    cls = type(loss)
    assert cls.registered_name == name and base.LOSS_CLASSES[name] is cls
    assert keras.saving.get_registered_object(f"dvml_tf>{cls.__name__}") is cls
    rebuilt = cls.from_config(loss.get_config())
    assert rebuilt.get_config() == loss.get_config() and rebuilt.reduction == "sum"
    for mine, theirs in zip(loss.weights, rebuilt.weights):
        theirs.assign(mine)
    embeddings, labels = _batch()
    seed = tf.constant([3, 4])
    assert float(rebuilt.loss(embeddings, labels, seed)) == float(
        loss.loss(embeddings, labels, seed))


def test_every_loss_class_is_a_public_name_of_dvml_tf_losses():
    import dvml_tf.losses as losses

    assert losses.__all__ == sorted(losses._CLASSES)
    assert {getattr(losses, cls.__name__) for cls in base.LOSS_CLASSES.values()} == set(
        base.LOSS_CLASSES.values())


@pytest.mark.parametrize("name", metric.METRIC_LOSSES)
def test_each_loss_takes_named_parameters_only(name):
    cls = base.LOSS_CLASSES[name]
    with pytest.raises(TypeError):
        cls(0.5)


def test_the_factory_maps_the_command_line_s_settings_onto_the_class_s_parameters():
    embeddings, labels = _batch()
    by_name = metric.make_metric_loss("multi_similarity", ms_alpha=3.0, ms_beta=40.0,
                                      ms_lambda=0.5, margin=0.2)
    direct = MultiSimilarityLoss(alpha=3.0, beta=40.0, base=0.5, epsilon=0.2)
    assert (by_name.alpha, by_name.beta, by_name.base, by_name.epsilon) == (3.0, 40.0, 0.5, 0.2)
    assert float(by_name.loss(embeddings, labels)) == float(direct.loss(embeddings, labels))
    anchor = metric.make_metric_loss("proxy_anchor", margin=0.3, proxy_anchor_alpha=8.0,
                                     **PROXIES)
    assert (anchor.margin, anchor.alpha, anchor.num_classes) == (0.3, 8.0, 6)


def test_a_bad_argument_is_named_as_its_caller_named_it():
    with pytest.raises(UserError, match=r"^alpha=0 must be positive"):
        MultiSimilarityLoss(alpha=0)
    with pytest.raises(UserError, match=r"^ms_alpha=0 must be positive"):
        metric.make_metric_loss("multi_similarity", ms_alpha=0)
    with pytest.raises(UserError, match=r"^--ms_alpha=0 must be positive"):
        metric.check_loss_settings("multi_similarity", {"ms_alpha": 0}, prefix="--")
    with pytest.raises(TypeError, match=r"^num_classes=2.5: must be a whole number"):
        ProxyAnchorLoss(num_classes=2.5, embedding_dim=4)
    with pytest.raises(UserError, match="no loss has such a setting"):
        metric.make_metric_loss("multi_similarity", ms_alfa=2.0)


def test_a_proxy_loss_owns_its_proxies_as_trained_weights():
    loss = ProxyAnchorLoss(num_classes=6, embedding_dim=5, lr_multiplier=10.0)
    (proxies,) = loss.trainable_weights
    assert tuple(proxies.shape) == (6, 5)
    embeddings, labels = _batch()
    with tf.GradientTape() as tape:
        value = loss.loss(embeddings, labels)
    assert np.any(tape.gradient(value, proxies).numpy() != 0)


@pytest.mark.parametrize("name", metric.MEMORY_LOSSES)
def test_a_pair_loss_computes_one_pair_view_for_the_batch_and_one_for_a_memory(name,
                                                                              monkeypatch):
    views = []

    def counted(original):
        def view(*args):
            views.append(original.__name__)
            return original(*args)
        return view

    monkeypatch.setattr(base, "batch_pairs", counted(base.batch_pairs))
    monkeypatch.setattr(base, "memory_pairs", counted(base.memory_pairs))
    loss = metric.make_metric_loss(name)
    embeddings, labels = _batch()
    loss.loss(embeddings, labels)
    loss.memory_loss(embeddings, labels, embeddings, labels, tf.eye(8, dtype=tf.bool))
    assert views == ["batch_pairs", "memory_pairs"]


@pytest.mark.parametrize("name", metric.MEMORY_LOSSES)
def test_a_pair_loss_of_the_batch_equals_its_loss_against_the_batch_as_a_memory(name):
    """The batch's view is the memory view of the batch with each anchor's own row
    ignored: one formula, two candidate sets (the contrastive sum counts each unordered
    pair of the batch once, so twice that against the batch as a memory)."""
    embeddings, labels = _batch()
    loss = metric.make_metric_loss(name, metric_reduction="sum")
    of_batch = float(loss.loss(embeddings, labels))
    against = float(loss.memory_loss(embeddings, labels, embeddings, labels,
                                     tf.eye(8, dtype=tf.bool)))
    assert against == pytest.approx(of_batch * (2 if name == "contrastive" else 1), rel=1e-5)
