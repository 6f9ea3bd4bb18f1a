"""The GoogLeNet backbone is TF-Slim's Inception v1: a checkpoint of TF-Slim's own network,
converted, gives the same pooled features; a wrong or broken checkpoint is one line and
writes nothing."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from commands import ROOT

from dvml_tf.errors import UserError
from dvml_tf.models import slim_checkpoint
from dvml_tf.models.backbones import build_backbone

SIZE = 224


def _tf_slim():
    """tf_slim's nets; on TensorFlow >= 2.16 its batch norm asks TensorFlow's lazy loader for
    tf_keras.legacy_tf_layers, which tf-keras keeps under tf_keras.src."""
    pytest.importorskip("tf_slim")
    try:
        import tf_keras.src.legacy_tf_layers as legacy
    except ImportError:  # TensorFlow 2.15 finds its own Keras layers
        pass
    else:
        sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy)
    import tf_slim
    from tf_slim.nets import inception_v1

    return tf_slim, inception_v1


@pytest.fixture(scope="module")
def slim_run(tmp_path_factory):
    """A checkpoint of TF-Slim's inception_v1 (with its ImageNet classifier) whose every
    variable, batch-norm statistics included, is random; and its pooled Mixed_5c features
    [2, 1024] of two images in [0, 255]."""
    tf_slim, inception_v1 = _tf_slim()
    folder = tmp_path_factory.mktemp("slim")
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        inputs = tf.compat.v1.placeholder(tf.float32, [None, SIZE, SIZE, 3])
        with tf_slim.arg_scope(inception_v1.inception_v1_arg_scope()):
            _, end_points = inception_v1.inception_v1(inputs / 127.5 - 1.0, num_classes=1001,
                                                      is_training=False)
        pooled = tf.reduce_mean(end_points["Mixed_5c"], axis=[1, 2])
        rng = np.random.default_rng(1)
        assignments = []
        for variable in tf.compat.v1.global_variables():
            shape = variable.shape.as_list()
            if variable.name.endswith("moving_variance:0"):
                value = rng.uniform(0.5, 2.0, shape)
            elif variable.name.endswith("weights:0"):
                value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            else:
                value = rng.normal(0, 0.1, shape)
            assignments.append(variable.assign(value.astype(np.float32)))
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(assignments)
            features = session.run(pooled, {inputs: images})
            prefix = tf.compat.v1.train.Saver().save(session, str(folder / "inception_v1.ckpt"))
    return prefix, images, features, folder


def test_converted_checkpoint_gives_tf_slims_features(slim_run, tmp_path):
    prefix, images, features, _ = slim_run
    out = str(tmp_path / "googlenet.weights.h5")
    count = slim_checkpoint.convert(prefix, out)
    assert count == 57 * 4  # 57 convolutions: a kernel and three batch-norm vectors each
    backbone = build_backbone("googlenet", SIZE, weights=out)
    ours = backbone(images, training=False).numpy()
    assert ours.shape == (2, 1024) and np.abs(features).max() > 0.1
    np.testing.assert_allclose(ours, features, atol=1e-4, rtol=0)


def test_imagenet_finds_the_converted_file_in_the_cache(slim_run, monkeypatch, tmp_path):
    prefix, images, features, _ = slim_run
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(UserError, match="no converted Inception v1 weights"):
        build_backbone("googlenet", SIZE, weights="imagenet")
    slim_checkpoint.convert(prefix, slim_checkpoint.imagenet_weights_path())
    backbone = build_backbone("googlenet", SIZE, weights="imagenet")
    np.testing.assert_allclose(backbone(images, training=False).numpy(), features, atol=1e-4)


def _copy_checkpoint(prefix, path, keep=lambda name: True, extra=()):
    """A checkpoint at `path` of the variables of `prefix` that `keep(name)` accepts, and
    the (name, shape) variables in `extra`."""
    reader = tf.train.load_checkpoint(prefix)
    graph = tf.Graph()
    with graph.as_default():
        copies = [tf.compat.v1.get_variable(name, initializer=reader.get_tensor(name))
                  for name in reader.get_variable_to_shape_map() if keep(name)]
        copies += [tf.compat.v1.get_variable(name, shape) for name, shape in extra]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return tf.compat.v1.train.Saver(copies).save(session, str(path))


def test_a_checkpoint_missing_a_variable_names_it_and_writes_nothing(slim_run, tmp_path):
    prefix, _, _, _ = slim_run
    missing = "InceptionV1/Mixed_4d/Branch_2/Conv2d_0b_3x3/weights"
    partial = _copy_checkpoint(prefix, tmp_path / "copy.ckpt", lambda name: name != missing)
    out = tmp_path / "out.weights.h5"
    with pytest.raises(UserError, match=f"has no {missing}; not TF-Slim's Inception v1"):
        slim_checkpoint.convert(partial, str(out))
    assert not out.exists() and not (tmp_path / "out.partial.weights.h5").exists()


def test_a_checkpoint_with_an_extra_variable_names_it(slim_run, tmp_path):
    prefix, _, _, _ = slim_run
    extra = _copy_checkpoint(prefix, tmp_path / "x.ckpt",
                             extra=[("InceptionV1/Mixed_6a/weights", [3])])
    with pytest.raises(UserError, match="InceptionV1/Mixed_6a/weights has no place"):
        slim_checkpoint.convert(extra, str(tmp_path / "out.weights.h5"))


def test_truncated_or_foreign_files_and_bad_outputs_are_one_line(slim_run, tmp_path):
    prefix, _, _, _ = slim_run
    data = prefix + ".data-00000-of-00001"
    truncated = tmp_path / "cut.ckpt"
    with open(data, "rb") as f:
        (tmp_path / "cut.ckpt.data-00000-of-00001").write_bytes(f.read()[:1000])
    (tmp_path / "cut.ckpt.index").write_bytes(open(prefix + ".index", "rb").read())
    with pytest.raises(UserError, match="cut.ckpt"):
        slim_checkpoint.convert(str(truncated), str(tmp_path / "a.weights.h5"))
    assert not (tmp_path / "a.weights.h5").exists()
    with pytest.raises(UserError, match="not a readable TensorFlow checkpoint"):
        slim_checkpoint.convert(str(tmp_path / "nothing.ckpt"), str(tmp_path / "b.weights.h5"))
    existing = tmp_path / "mine.weights.h5"
    existing.write_text("keep")
    with pytest.raises(UserError, match="already exists"):
        slim_checkpoint.convert(prefix, str(existing))
    assert existing.read_text() == "keep"
    with pytest.raises(UserError, match=r"name the weights file \*\.weights\.h5"):
        slim_checkpoint.convert(prefix, str(tmp_path / "legacy.h5"))
    assert not (tmp_path / "legacy.h5").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write"):
        slim_checkpoint.convert(prefix, str(blocker / "w.weights.h5"))
    assert os.listdir(tmp_path).count("a_file") == 1


def test_the_command_converts_and_reports_in_one_line(slim_run, tmp_path):
    prefix, _, _, _ = slim_run
    command = [sys.executable, "-m", "dvml_tf.convert_weights"]
    out = tmp_path / "w.weights.h5"
    done = subprocess.run([*command, f"--checkpoint={prefix}", f"--out={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"wrote {out}: 228 variables of {prefix}"
    failed = subprocess.run([*command, f"--checkpoint={tmp_path / 'none.ckpt'}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and len(lines) == 1
    assert lines[0].startswith(f"error: --checkpoint={tmp_path / 'none.ckpt'}: not a readable")
