"""The Python API: every public name resolves lazily; the metric losses work in a Keras 3
model of one's own, as a keras.losses.Loss or, with variables, as a layer that fit trains."""
import json
import os

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


@pytest.mark.parametrize("loss", ["triplet_semihard", "npairs", "contrastive", "angular",
                                  "multi_similarity"])
def test_metric_loss_is_a_keras_loss_equal_to_the_package_loss(loss):
    embeddings, labels = _batch()
    expected = make_metric_loss(loss).loss(tf.constant(embeddings), tf.constant(labels), None)
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
                                           ("proxy_nca", "proxy_nca_proxies"),
                                           ("proxy_anchor", "proxy_anchor_proxies")])
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


def test_cross_batch_memory_layer_fills_in_training_only():
    keras.utils.set_random_seed(0)
    embeddings, labels = _batch()
    inputs, targets = keras.Input([6]), keras.Input([], dtype="int32")
    layer = dvml_tf.MetricLossLayer("multi_similarity", embedding_dim=4,
                                    cross_batch_memory=40, cross_batch_memory_start=1)
    model = keras.Model([inputs, targets], layer(keras.layers.Dense(4)(inputs), targets))
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit([embeddings, labels], batch_size=8, epochs=2, shuffle=False, verbose=0)
    # 4 training steps of 8; the first comes before the memory's start.
    assert int(layer.memory.written) == 24
    model.evaluate([embeddings, labels], batch_size=8, verbose=0)
    assert int(layer.memory.written) == 24
    assert sorted(layer.memory.contents()[1].numpy()[:24].tolist()) == sorted(
        labels[8:].tolist() + labels.tolist())


def test_export_refuses_a_model_with_non_finite_weights(tmp_path):
    from helpers import tiny_model

    model = tiny_model()
    kernel = model.encoder.get_layer("log_var").kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    with pytest.raises(UserError, match=r"^step 0: 1 weights hold NaN or infinite values "
                                        r"\(e\.g\. log_var/kernel\); nothing exported$"):
        dvml_tf.export(model, str(tmp_path), image_size=16)
    assert not list(tmp_path.rglob("saved_model.pb"))


def test_retrieval_index_finds_the_exact_neighbours_and_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    gallery = rng.normal(size=(50, 6)).astype(np.float32)
    queries = rng.normal(size=(7, 6)).astype(np.float32)
    names = [f"image_{i}.png" for i in range(50)]
    index = dvml_tf.RetrievalIndex(gallery, names, {"export": "e/1"})
    distances, rows = index.search(queries, k=5)
    brute = np.linalg.norm(queries[:, None] - gallery[None], axis=-1)
    np.testing.assert_array_equal(rows, np.argsort(brute, axis=1)[:, :5])
    np.testing.assert_allclose(distances, np.sort(brute, axis=1)[:, :5], rtol=1e-4)
    assert index.lookup(queries[0], k=2)[0][0] == (names[rows[0, 0]],
                                                    pytest.approx(distances[0, 0]))
    index.save(str(tmp_path / "index.npz"))
    loaded = dvml_tf.RetrievalIndex.load(str(tmp_path / "index.npz"))
    assert loaded.names == names and loaded.metadata == {"export": "e/1"}
    np.testing.assert_array_equal(loaded.search(queries, k=5)[1], rows)
    saved = (tmp_path / "index.npz").read_bytes()
    with pytest.raises(UserError, match="index.npz: already exists"):
        dvml_tf.RetrievalIndex(gallery[:3], names[:3]).save(str(tmp_path / "index.npz"))
    assert (tmp_path / "index.npz").read_bytes() == saved
    dvml_tf.RetrievalIndex(gallery[:3], names[:3]).save(str(tmp_path / "index.npz"), True)
    assert dvml_tf.RetrievalIndex.load(str(tmp_path / "index.npz")).names == names[:3]
    with pytest.raises(UserError, match="NaN"):
        dvml_tf.RetrievalIndex(np.full((2, 3), np.nan))
    with pytest.raises(UserError, match="3 names for 2 embeddings"):
        dvml_tf.RetrievalIndex(np.ones((2, 3)), ["a", "b", "c"])
    with pytest.raises(UserError, match="not a saved retrieval index"):
        dvml_tf.RetrievalIndex.load(str(tmp_path / "none.npz"))


def test_dvml_model_takes_todays_losses_and_a_cross_batch_memory():
    from helpers import tiny_batch

    images, labels = tiny_batch()
    model = dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 16), embedding_dim=8,
                               metric_loss="multi_similarity", images_per_class=2,
                               phase1_steps=1, num_samples=2, cross_batch_memory=32,
                               ms_beta=10.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(3), verbose=0)
    assert int(model.metric_loss.memory.written) == 3 * len(labels)
    assert model.metric_loss.metric.beta == 10.0


def test_an_export_that_answers_its_probe_with_nan_is_not_published(tmp_path):
    """Finite weights that still give NaN (a negative moving variance): export_model's own
    probe of the written SavedModel refuses it, and no version appears."""
    from helpers import tiny_model

    model = tiny_model()
    variance = model.backbone.get_layer("small_cnn").get_layer("block0_bn0").moving_variance
    variance.assign(-np.ones(variance.shape, np.float32))
    assert not model.non_finite_weights()
    with pytest.raises(UserError, match="answers a probe image with .*nothing published"):
        dvml_tf.export(model, str(tmp_path), image_size=16)
    assert not list(tmp_path.rglob("saved_model.pb"))


def test_a_python_export_s_metadata_describes_the_exported_model(tmp_path):
    """Not a default run's: the backbone is the model's own (a Keras model of one's own),
    the loss and DVML settings are the model's, and no flags or dataset are claimed."""
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential([keras.Input([32, 32, 3]), keras.layers.Rescaling(1 / 255),
                                 keras.layers.Conv2D(8, 3), keras.layers.GlobalAvgPool2D()],
                                name="my_backbone")
    model = dvml_tf.dvml_model(backbone, embedding_dim=8, metric_loss="multi_similarity",
                               images_per_class=2, num_samples=3, ms_lambda=0.5,
                               metric_reduction="mean")
    path = dvml_tf.export(model, str(tmp_path), image_size=32, model_name="cars")
    with open(os.path.join(path, "assets.extra", "dvml_config.json")) as f:
        metadata = json.load(f)
    assert metadata["backbone"] == "my_backbone"
    assert metadata["embedding_dim"] == 8 and metadata["metric_loss"] == "multi_similarity"
    assert metadata["metric_loss_settings"]["reduction"] == "mean"
    assert metadata["metric_loss_settings"]["base"] == 0.5
    assert metadata["dvml_settings"]["num_samples"] == 3 and metadata["dvml"] is True
    assert metadata["image_size"] == metadata["resize_size"] == 32
    assert metadata["train_step"] == 0
    assert "training_flags" not in metadata and "dataset" not in metadata


@pytest.mark.parametrize("decoded_at_once", [256, 2])
def test_one_embedder_one_bad_file_rule_raised_by_embed_skipped_by_embed_files(
        tmp_path, monkeypatch, decoded_at_once):
    """The gallery index and Python's embed share the Embedder: embed stops at a file
    embed_files skips, with the same reason; images of several sizes keep their order,
    decoded all at once or two at a time."""
    from helpers import tiny_model
    from PIL import Image

    from dvml_tf import embedder as embedder_module

    monkeypatch.setattr(embedder_module, "DECODED_AT_ONCE", decoded_at_once)

    rng = np.random.default_rng(0)
    good = []
    for i, size in enumerate((16, 20, 16, 24, 20)):
        path = tmp_path / f"good_{i}.png"
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
        good.append(str(path))
    text, missing = tmp_path / "notes.png", str(tmp_path / "missing.png")
    text.write_text("not an image")
    embedder = dvml_tf.Embedder.from_model(tiny_model(), 16, 16)
    embeddings, kept, skipped = embedder.embed_files([good[0], str(text), missing] + good[1:])
    assert kept == good
    assert skipped == {str(text): "not an image TensorFlow decodes",
                       missing: "cannot read (No such file or directory)"}
    one_by_one = np.concatenate([embedder.embed([path]) for path in good])
    np.testing.assert_allclose(embeddings, one_by_one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embedder.embed(good, batch_size=2), one_by_one, rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(UserError, match=rf"^{text}: not an image TensorFlow decodes$"):
        embedder.embed([good[0], str(text)])
    with pytest.raises(ValueError, match=rf"^{missing}: cannot read \(No such file"):
        embedder.embed([missing])


def test_a_loss_is_given_by_name_with_settings_or_as_an_object_alone():
    from dvml_tf.losses import MultiSimilarityLoss

    for wrapper in (dvml_tf.MetricLoss, dvml_tf.MetricLossLayer):
        with pytest.raises(ValueError, match="ms_alpha go to the loss's own class"):
            wrapper(MultiSimilarityLoss(), ms_alpha=3.0)
        with pytest.raises(TypeError, match="loss=3: a name of dvml_tf.METRIC_LOSSES"):
            wrapper(3)
        assert wrapper("multi_similarity", ms_alpha=3.0).metric.alpha == 3.0
