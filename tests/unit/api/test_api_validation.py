"""The Python API validates what it is given as the command line does: nothing is written
outside the export folder, and a setting no run can use is refused before any work."""
import os

import numpy as np
import pytest
import tensorflow as tf

import dvml_tf
from dvml_tf.config import RunConfig
from dvml_tf.errors import UserError


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "", "a/b", None])
def test_export_refuses_a_model_name_that_is_not_one_folder(tmp_path, name):
    from helpers import tiny_model

    with pytest.raises(ValueError, match=r"^model_name=.*: use letters, digits"):
        dvml_tf.export(tiny_model(), str(tmp_path / "exports"), image_size=16,
                       model_name=name)
    assert not list(tmp_path.rglob("*"))


@pytest.mark.parametrize("size,resize,message", [
    (0, None, r"image_size=0: a positive integer"),
    (16.5, None, r"image_size=16.5: a positive integer"),
    (16, 8, r"image_size=16 exceeds resize_size=8"),
])
def test_export_refuses_sizes_it_cannot_serve(tmp_path, size, resize, message):
    from helpers import tiny_model

    with pytest.raises(ValueError, match=message):
        dvml_tf.export(tiny_model(), str(tmp_path), image_size=size, resize_size=resize)


def test_export_names_a_model_that_is_not_dvml_tfs():
    with pytest.raises(TypeError, match="model: a dvml_tf DVMLModel"):
        dvml_tf.export("not a model", "exports", image_size=16)


GLYPHS = RunConfig.of(dataset="glyphs", backbone="small_cnn", image_size=32, resize_size=36)


@pytest.mark.parametrize("changes,message", [
    (dict(model_name="../../x"), r"^model_name=\.\./\.\./x: use letters"),
    (dict(train_steps=0), r"^train_steps=0 must be positive"),
    (dict(classes_per_batch=1), r"^classes_per_batch=1: P x K batches need at least 2"),
    (dict(mode="nope"), r"^mode=nope is unknown"),
    (dict(phase1_lambdas=(1.0,)), r"^phase1_lambdas=1.0: expected 4 values"),
    (dict(train_steps="10"), r"^train_steps='10': expected an integer"),
    (dict(phase2_lambdas=[1, 1, 1, 1]), r"^phase2_lambdas=\[1, 1, 1, 1\]: expected a tuple"),
    (dict(image_size=40), r"^image_size=40 exceeds resize_size=36"),
])
def test_run_validates_its_config_before_any_work(tmp_path, changes, message):
    config = GLYPHS.replace(model_dir=str(tmp_path / "run"), **changes)
    with pytest.raises(UserError, match=message):
        dvml_tf.run(config)
    assert not os.path.exists(tmp_path / "run")


def test_a_home_relative_path_is_expanded_wherever_it_comes_from(tmp_path, monkeypatch):
    from dvml_tf.cli.settings import parse_config

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "images").mkdir()
    config = parse_config(["--dataset=folder", "--data_dir=~/images", "--model_dir=~/run"])
    assert (config.data.data_dir, config.training.model_dir) == (str(tmp_path / "images"),
                                                   str(tmp_path / "run"))


@pytest.mark.parametrize("flag,message", [
    ("--ms_alpha=0", r"--ms_alpha=0.0 must be positive"),
    ("--ms_alpha=-2", r"--ms_alpha=-2.0 must be positive"),
    ("--ms_beta=0", r"--ms_beta=0.0 must be positive"),
    ("--proxy_anchor_alpha=-32", r"--proxy_anchor_alpha=-32.0 must be positive"),
    ("--margin=-0.1", r"--margin=-0.1 must be 0 or positive"),
])
def test_a_loss_setting_out_of_its_range_is_refused_on_the_command_line(flag, message):
    from dvml_tf.cli.settings import parse_config

    with pytest.raises(UserError, match=message):
        parse_config(["--dataset=glyphs", flag])


@pytest.mark.parametrize("settings,message", [
    (dict(margin=float("nan")), r"^margin=nan: every number must be finite"),
    (dict(ms_alpha=float("nan")), r"^ms_alpha=nan: every number must be finite"),
    (dict(proxy_lr_multiplier=float("nan")), r"^proxy_lr_multiplier=nan: every number"),
    (dict(ms_alpha=0.0), r"^ms_alpha=0.0 must be positive"),
])
def test_a_loss_setting_out_of_its_range_is_refused_in_python(settings, message):
    """dvml_model used to build these; fit then reported every loss as 0.0."""
    with pytest.raises(UserError, match=message):
        dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 16), metric_loss="multi_similarity",
                           **settings)


def test_a_cross_batch_memory_larger_than_memory_allows_is_refused_before_allocating():
    from dvml_tf.cli.settings import parse_config

    with pytest.raises(UserError, match=r"--cross_batch_memory=1000000000: 1,000,000,000 "
                                        r"embeddings of 128 floats take 476.8 GiB"):
        parse_config(["--dataset=digits", "--metric_loss=multi_similarity",
                      "--cross_batch_memory=1000000000", "--embedding_dim=128"])


@pytest.mark.parametrize("call,error,message", [
    (lambda: dvml_tf.dvml_model("small_cnn"), TypeError, "backbone: a built keras.Model"),
    (lambda: dvml_tf.dvml_model(lambda x: x), TypeError, "backbone: a built keras.Model"),
    (lambda: dvml_tf.Embedder.from_model(object(), 16, 16), TypeError,
     "model: a dvml_tf DVMLModel"),
    (lambda: dvml_tf.backbone("small_cnn", "32"), TypeError, "image_size='32': a whole"),
    (lambda: dvml_tf.load_dataset("folder"), ValueError, "data_dir: the folder of class"),
    (lambda: dvml_tf.pk_batches(np.zeros((4, 8, 8, 3), np.uint8), [0, 0, 1, 1], 2, 0),
     ValueError, "images_per_class=0: a whole number >= 1"),
    (lambda: dvml_tf.pk_batches(np.zeros((4, 8, 8, 3), np.uint8), [0, 0, 1, 1], 1, 2),
     ValueError, "classes_per_batch=1: a whole number >= 2"),
    (lambda: dvml_tf.Embedder.from_model(_tiny(), 16, 16).embed("one/path.jpg"), TypeError,
     "not a single one"),
])
def test_a_python_call_with_a_wrong_argument_names_it(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _tiny():
    from helpers import tiny_model

    return tiny_model()


def test_a_run_saved_with_its_derived_settings_unset_still_loads(tmp_path):
    """dvml_tf.run used to save model_name null and phase1_steps -1 (the command line
    filled them in, run() did not): such a run's settings load with them derived."""
    import json

    from dvml_tf.training.checkpoints import CHECKPOINT_FORMAT, load_run_config

    saved = json.loads(GLYPHS.replace(model_name=None, phase1_steps=-1,
                                           train_steps=100).to_json())
    (tmp_path / "run_config.json").write_text(json.dumps(
        dict(saved, checkpoint_format=CHECKPOINT_FORMAT)))
    config = load_run_config(str(tmp_path))
    assert (config.export.model_name, config.model.phase1_steps) == ("dvml_glyphs", 50)


def test_a_metric_loss_refuses_labels_of_another_length():
    embeddings = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^y_true: 5 labels for 16 embeddings"):
        dvml_tf.MetricLoss("multi_similarity")(np.arange(5), embeddings)


def test_npairs_refuses_a_batch_that_is_no_p_by_k_batch():
    embeddings = np.random.default_rng(0).normal(size=(15, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^15 embeddings are no P x K batch of "
                                         r"images_per_class=2"):
        dvml_tf.MetricLoss("npairs")(np.repeat(np.arange(8), 2)[:15], embeddings)


def test_a_proxy_loss_names_num_classes_and_refuses_labels_beyond_its_table():
    from helpers import tiny_batch

    backbone = dvml_tf.backbone("small_cnn", 16)
    with pytest.raises(ValueError, match=r"^num_classes=0: metric_loss=proxy_anchor needs"):
        dvml_tf.dvml_model(backbone, embedding_dim=8, metric_loss="proxy_anchor")
    with pytest.raises(ValueError, match=r"^num_classes=True: metric_loss=proxy_anchor"):
        dvml_tf.dvml_model(backbone, embedding_dim=8, metric_loss="proxy_anchor",
                           num_classes=True)
    model = dvml_tf.dvml_model(backbone, embedding_dim=8, metric_loss="proxy_anchor",
                               images_per_class=2, num_classes=3)
    model.compile(optimizer="adam")
    images, labels = tiny_batch()  # labels 0 to 3
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"a label is beyond the proxy table of 3"):
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0)


def test_pk_batches_names_a_missing_file_when_called(tmp_path):
    paths = [str(tmp_path / f"{i}.png") for i in range(4)]
    with pytest.raises(ValueError, match=rf"^images: 4 of 4 paths are no file \(e.g. "
                                         rf"{paths[0]}\)"):
        dvml_tf.pk_batches(paths, [0, 0, 1, 1], 2, 2, image_size=16)
