"""The Python API: every public name resolves lazily; the metric losses work in a Keras 3
model of one's own, as a keras.losses.Loss or, with variables, as a layer that fit trains."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import dvml_tf
from dvml_tf.errors import UserError
from dvml_tf.losses.metric import make_metric_loss


def test_every_public_name_resolves():
    for name in dvml_tf.__all__:
        assert getattr(dvml_tf, name) is not None, name
    with pytest.raises(AttributeError):
        dvml_tf.no_such_name  # noqa: B018


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(16, 6)).astype(np.float32),
            np.repeat(np.arange(8), 2).astype(np.int32))


@pytest.mark.parametrize("loss", ["triplet_semihard", "npairs", "contrastive", "angular"])
def test_metric_loss_is_a_keras_loss_equal_to_the_package_loss(loss):
    embeddings, labels = _batch()
    expected = make_metric_loss(loss).fn(tf.constant(embeddings), tf.constant(labels), None)
    keras_loss = dvml_tf.MetricLoss(loss)
    assert isinstance(keras_loss, keras.losses.Loss)
    value = keras_loss(labels[:, None], embeddings)  # Keras passes y as [B, 1]
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-6)
    restored = dvml_tf.MetricLoss.from_config(keras_loss.get_config())
    np.testing.assert_allclose(float(restored(labels, embeddings)), float(expected), rtol=1e-6)


def test_metric_loss_trains_a_model_of_ones_own_with_fit():
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    model = keras.Sequential([keras.Input([6]), keras.layers.Dense(4)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=dvml_tf.MetricLoss("triplet_semihard"))
    history = model.fit(embeddings, labels, batch_size=16, epochs=5, shuffle=False, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_losses_with_variables_are_refused_as_a_keras_loss_with_the_layer_named():
    with pytest.raises(UserError, match=r"use dvml_tf.MetricLossLayer\('margin_dws'\)"):
        dvml_tf.MetricLoss("margin_dws")


@pytest.mark.parametrize("loss,variable", [("margin_dws", "margin_dws_beta"),
                                           ("proxy_nca", "proxy_nca_proxies")])
def test_metric_loss_layer_trains_its_own_variables_under_fit(loss, variable):
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    inputs, targets = keras.Input([6]), keras.Input([], dtype="int32")
    layer = dvml_tf.MetricLossLayer(loss, num_proxies=8, embedding_dim=4)
    outputs = layer(keras.layers.Dense(4)(inputs), targets)
    model = keras.Model([inputs, targets], outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    own = next(v for v in model.trainable_variables if v.path.endswith(variable))
    before = own.numpy().copy()
    model.fit([embeddings, labels], batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert not np.allclose(own.numpy(), before)
