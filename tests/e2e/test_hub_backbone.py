"""--backbone=hub: a TF2 image feature-vector SavedModel in TF Hub's format, trained through
(or frozen), and exported so that a new process serves it like any other backbone."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dvml_tf.cli.settings import parse_config
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.errors import UserError
from dvml_tf.training.checkpoints import load_trained_model
from dvml_tf.training.run import run_modes

pytestmark = pytest.mark.slow
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
FEATURES = 12


def _write_module(path):
    """Saves TF Hub's image feature-vector interface (a reusable SavedModel): float images
    [B, H, W, 3] in [0, 1] -> [B, FEATURES], with its variable lists; returns the kernel."""
    rng = np.random.default_rng(0)
    module = tf.train.Checkpoint()
    module.kernel = tf.Variable(rng.normal(0, 0.5, (3, 3, 3, FEATURES)).astype(np.float32))
    module.bias = tf.Variable(np.zeros(FEATURES, np.float32))
    module.variables = [module.kernel, module.bias]
    module.trainable_variables = [module.kernel, module.bias]
    module.regularization_losses = []

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def features(images):
        x = tf.nn.relu(tf.nn.conv2d(images, module.kernel, 2, "SAME") + module.bias)
        return tf.reduce_mean(x, axis=[1, 2])

    module.__call__ = features
    tf.saved_model.save(module, str(path))
    return module.kernel.numpy()


@pytest.fixture(scope="module")
def hub_module(tmp_path_factory):
    path = tmp_path_factory.mktemp("hub") / "feature_vector"
    return str(path), _write_module(path)


def _flags(handle, model_dir, *more):
    return ["--dataset=digits", "--backbone=hub", f"--hub_handle={handle}", "--image_size=16",
            "--resize_size=18", "--embedding_dim=8", "--decoder_hidden=8", "--num_samples=2",
            "--classes_per_batch=3", "--images_per_class=4", "--train_steps=6",
            "--checkpoint_every=6", "--learning_rate=0.05", "--recall_k=1", "--nofigures",
            f"--model_dir={model_dir}", *more]


def _hub_kernel(model_dir):
    model, _ = load_trained_model(str(model_dir))
    return next(v.numpy() for v in model.backbone.weights if v.shape == (3, 3, 3, FEATURES))


def test_a_hub_module_trains_exports_and_serves(hub_module, tmp_path):
    handle, initial_kernel = hub_module
    export_dir = tmp_path / "export"
    metrics = run_modes(parse_config(_flags(handle, tmp_path / "run",
                                            f"--export_dir={export_dir}")))
    assert metrics["step"] == 6
    assert np.abs(_hub_kernel(tmp_path / "run") - initial_kernel).max() > 1e-3
    version = export_dir / "dvml_digits" / "1"
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    np.save(tmp_path / "pixels.npy", pixels)
    subprocess.run([SAVED_MODEL_CLI, "run", "--dir", str(version), "--tag_set", "serve",
                    "--signature_def", "serve_images", "--inputs",
                    f"images={tmp_path / 'pixels.npy'}", "--outdir", str(tmp_path / "out")],
                   check=True, capture_output=True, timeout=300)
    served = np.load(tmp_path / "out" / "embeddings.npy")
    model, config = load_trained_model(str(tmp_path / "run"))
    images = tf.stack([eval_preprocess(image, config.data.resize_size, config.data.image_size)
                       for image in tf.constant(pixels)])
    np.testing.assert_allclose(served, model.embed(images).numpy(), atol=1e-5)


def test_a_frozen_hub_module_keeps_its_weights(hub_module, tmp_path):
    handle, initial_kernel = hub_module
    run_modes(parse_config(_flags(handle, tmp_path / "run", "--freeze_backbone",
                                  "--export_dir=", "--mode=train")))
    np.testing.assert_array_equal(_hub_kernel(tmp_path / "run"), initial_kernel)


def test_a_handle_that_cannot_be_loaded_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub_cache"))
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    # .invalid never resolves (RFC 2606): a URL that cannot be fetched, online or not.
    unreachable = "https://tfhub.invalid/imagenet/feature_vector/1"
    for handle in (str(tmp_path / "no_such_module"), str(not_a_model), unreachable):
        config = parse_config(_flags(handle, tmp_path / "run", "--export_dir="))
        with pytest.raises(UserError) as raised:
            run_modes(config)
        # run_modes in Python: the setting by its name (the command line says --hub_handle)
        assert str(raised.value).startswith(f"hub_handle={handle}: cannot be loaded")
        assert "\n" not in str(raised.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
    with pytest.raises(UserError, match="--hub_handle goes with --backbone=hub"):
        parse_config(["--backbone=hub"])
