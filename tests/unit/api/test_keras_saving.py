"""Every model compiled or built with a dvml_tf loss or layer saves to `.keras` and loads
back: the same outputs, weights (proxies, boundary, cross-batch memory, step counters) and
loss, and it trains on from there as the saved one does."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import dvml_tf
from dvml_tf.losses.metric import METRIC_LOSSES, VARIABLE_LOSSES

KERAS_LOSSES = [name for name in METRIC_LOSSES if name not in VARIABLE_LOSSES]


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(16, 6)).astype(np.float32),
            np.repeat(np.arange(8), 2).astype(np.int32))


def _round_trip(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    return keras.saving.load_model(path)


def _assert_same_weights(saved, loaded):
    assert [v.path for v in saved.weights] == [v.path for v in loaded.weights]
    for a, b in zip(saved.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


@pytest.mark.parametrize("loss", KERAS_LOSSES)
def test_a_model_compiled_with_a_metric_loss_saves_and_loads(loss, tmp_path):
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    model = keras.Sequential([keras.Input([6]), keras.layers.Dense(4)])
    model.compile(optimizer="adam",
                  loss=dvml_tf.MetricLoss(loss, margin=0.3 if loss != "npairs" else None,
                                          metric_reduction="sum"))
    model.fit(embeddings, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert loaded.loss.get_config() == model.loss.get_config()
    np.testing.assert_array_equal(loaded.predict(embeddings, verbose=0),
                                  model.predict(embeddings, verbose=0))
    assert loaded.evaluate(embeddings, labels, batch_size=16, verbose=0) == pytest.approx(
        model.evaluate(embeddings, labels, batch_size=16, verbose=0), rel=1e-6)


def _model_with_layer(loss, **settings):
    inputs, targets = keras.Input([6]), keras.Input([], dtype="int32")
    if isinstance(loss, str):
        settings = dict(num_proxies=8, **settings)
    layer = dvml_tf.MetricLossLayer(loss, embedding_dim=4, **settings)
    model = keras.Model([inputs, targets], layer(keras.layers.Dense(4)(inputs), targets))
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    return model


@pytest.mark.parametrize("loss,settings", [(name, {}) for name in METRIC_LOSSES] + [
    ("multi_similarity", dict(cross_batch_memory=24, ms_lambda=0.5))])
def test_a_model_with_a_metric_loss_layer_saves_loads_and_trains_on_alike(loss, settings,
                                                                          tmp_path):
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    model = _model_with_layer(loss, **settings)
    model.fit([embeddings, labels], batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded = _round_trip(model, tmp_path)
    _assert_same_weights(model, loaded)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
    for trained in (model, loaded):  # one more step each: the same step from the same state
        trained.fit([embeddings, labels], batch_size=16, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(model, loaded)


def _loss_objects():
    from dvml_tf.losses import CircleLoss, MultiSimilarityLoss, ProxyAnchorLoss

    return [MultiSimilarityLoss(alpha=3.0, epsilon=0.2, reduction="sum"),
            CircleLoss(gamma=16.0), ProxyAnchorLoss(num_classes=8, embedding_dim=4, alpha=8.0)]


@pytest.mark.parametrize("index", range(3))
def test_models_built_with_loss_objects_save_and_load(index, tmp_path):
    """A loss object in a MetricLossLayer (and, without variables, in compile as a
    MetricLoss) comes back as the same class with the same parameters and weights."""
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    loss = _loss_objects()[index]
    model = _model_with_layer(loss)
    model.fit([embeddings, labels], batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded = _round_trip(model, tmp_path)
    restored = loaded.layers[-1].metric
    assert type(restored) is type(loss)
    assert restored.get_config() == model.layers[-1].metric.get_config()
    _assert_same_weights(model, loaded)
    if loss.trains_variables:
        return
    compiled = keras.Sequential([keras.Input([6]), keras.layers.Dense(4)])
    compiled.compile(optimizer="adam", loss=dvml_tf.MetricLoss(loss))
    loaded = _round_trip(compiled, tmp_path)
    assert type(loaded.loss.metric) is type(loss)
    assert loaded.evaluate(embeddings, labels, batch_size=16, verbose=0) == pytest.approx(
        compiled.evaluate(embeddings, labels, batch_size=16, verbose=0), rel=1e-6)


def _tiny_dvml_model(loss="margin_dws"):
    keras.utils.set_random_seed(0)
    model = dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 16), embedding_dim=8,
                               metric_loss=loss, images_per_class=2, num_classes=4,
                               phase1_steps=1, num_samples=3, decoder_hidden=16)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def _images():
    rng = np.random.default_rng(0)
    return (rng.uniform(0, 255, size=(8, 16, 16, 3)).astype(np.float32),
            np.repeat(np.arange(4), 2).astype(np.int32))


@pytest.mark.parametrize("loss", ["margin_dws", "proxy_anchor"])
def test_a_dvml_model_saves_loads_and_trains_on_alike(loss, tmp_path):
    images, labels = _images()
    model = _tiny_dvml_model(loss)
    model.fit(images, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
    loaded = _round_trip(model, tmp_path)
    assert isinstance(loaded, dvml_tf.DVMLModel) and loaded.settings == model.settings
    assert int(loaded.steps_taken) == 2
    _assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.embed(images).numpy(), model.embed(images).numpy())
    for trained in (model, loaded):
        trained.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(model, loaded)


@pytest.mark.slow
def test_a_fresh_process_loads_a_saved_dvml_model_after_importing_dvml_tf(tmp_path):
    images, _ = _images()
    model = _tiny_dvml_model()
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.save(tmp_path / "images.npy", images)
    script = ("import sys, keras, numpy as np, dvml_tf.keras_objects\n"
              "model = keras.saving.load_model(sys.argv[1])\n"
              "np.save(sys.argv[2], model.embed(np.load(sys.argv[3])).numpy())\n")
    out = str(tmp_path / "embedded.npy")
    subprocess.run([sys.executable, "-c", script, path, out, str(tmp_path / "images.npy")],
                   check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    np.testing.assert_allclose(np.load(out), model.embed(tf.constant(images)).numpy(),
                               rtol=1e-6, atol=1e-7)
