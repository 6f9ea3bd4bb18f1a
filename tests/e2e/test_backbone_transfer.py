"""Fine-tuning from a backbone another run trained (--backbone_weights=PATH) and training
with that backbone frozen (--freeze_backbone): what the pretrained and frozen regimes of
benchmarks/quality.py rest on."""
import logging
import os
import shutil

import numpy as np
import pytest

from dvml_tf.cli.settings import parse_config
from dvml_tf.training.build import build_model
from dvml_tf.training.checkpoints import load_trained_model, save_backbone_weights
from dvml_tf.training.run import run_modes

TINY = ["--dataset=digits", "--backbone=small_cnn", "--image_size=16", "--resize_size=18",
        "--embedding_dim=8", "--decoder_hidden=8", "--num_samples=2", "--classes_per_batch=2",
        "--images_per_class=2", "--checkpoint_every=3", "--recall_k=1", "--mode=train"]


def _weights(layers):
    return [w.copy() for layer in layers for w in layer.get_weights()]


def _features(model):
    return model.backbone.get_layer("small_cnn")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """A run trained 3 steps with Proxy-NCA, and its backbone as a weights file."""
    folder = tmp_path_factory.mktemp("stage1")
    run_modes(parse_config(TINY + ["--train_steps=3", "--nodvml", "--metric_loss=proxy_nca",
                                   f"--model_dir={folder / 'run'}"]))
    return save_backbone_weights(str(folder / "run"), str(folder / "backbone.weights.h5")), folder


def test_backbone_weights_file_starts_stage_two_from_stage_one(stage1):
    path, folder = stage1
    trained, _ = load_trained_model(str(folder / "run"))
    fine_tuned = build_model(parse_config(TINY + [f"--backbone_weights={path}",
                                                  f"--model_dir={folder / 'unused'}"]))
    fresh = build_model(parse_config(TINY + [f"--model_dir={folder / 'unused'}"]))
    for ours, theirs in zip(_weights([_features(fine_tuned)]), _weights([_features(trained)])):
        np.testing.assert_array_equal(ours, theirs)
    assert any(not np.array_equal(a, b) for a, b in zip(_weights([_features(trained)]),
                                                         _weights([_features(fresh)])))


def test_backbone_weights_file_is_never_overwritten(stage1):
    path, folder = stage1
    before = open(path, "rb").read()
    with pytest.raises(Exception, match="already exists"):
        save_backbone_weights(str(folder / "run"), path)
    assert open(path, "rb").read() == before
    with pytest.raises(Exception, match=r"name the backbone weights file \*\.weights\.h5"):
        save_backbone_weights(str(folder / "run"), str(folder / "legacy.h5"))
    assert not (folder / "legacy.h5").exists()


def test_frozen_backbone_keeps_its_weights_and_statistics_while_the_heads_train(stage1,
                                                                               tmp_path):
    path, _ = stage1
    argv = TINY + ["--train_steps=3", f"--backbone_weights={path}", "--freeze_backbone",
                   f"--model_dir={tmp_path / 'frozen'}"]
    start = build_model(parse_config(argv))
    run_modes(parse_config(argv))
    trained, _ = load_trained_model(str(tmp_path / "frozen"))
    # Every weight of the backbone, batch-norm moving statistics included, is unchanged.
    for before, after in zip(_weights([_features(start)]), _weights([_features(trained)])):
        np.testing.assert_array_equal(before, after)
    for head in ("z_invariant", "mu", "log_var"):
        before = start.encoder.get_layer(head).get_weights()[0]
        assert not np.array_equal(before, trained.encoder.get_layer(head).get_weights()[0])
    # Evaluated later without repeating --freeze_backbone: the checkpoint still loads.
    metrics = run_modes(parse_config(["--mode=eval", "--recall_k=1",
                                      f"--model_dir={tmp_path / 'frozen'}"]))
    assert metrics["step"] == 3 and 0 <= metrics["recall@1"] <= 1


def test_freezing_random_features_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_modes(parse_config(TINY + ["--train_steps=1", "--freeze_backbone",
                                       f"--model_dir={tmp_path / 'run'}"]))
    # run_modes in Python: settings by name (the command line says --freeze_backbone)
    assert "freeze_backbone with backbone_weights=none" in caplog.text


def test_a_fine_tuned_run_loads_for_inference_from_its_checkpoint_alone(stage1, tmp_path):
    """Its --backbone_weights file moved away, dvml_tf.load still embeds as the trained
    model does; loading leaves the process's random state alone and makes no optimizer."""
    import dvml_tf

    path, _ = stage1
    moved = str(tmp_path / "backbone.weights.h5")
    shutil.copy(path, moved)
    run = str(tmp_path / "fine_tuned")
    run_modes(parse_config(TINY + ["--train_steps=3", f"--backbone_weights={moved}",
                                   f"--model_dir={run}"]))
    trained, _ = load_trained_model(run)
    assert getattr(trained, "optimizer", None) is None
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    expected = dvml_tf.Embedder.from_model(trained, 16, 18).embed(images)
    os.remove(moved)
    np.random.seed(7)
    first_draw = np.random.random()
    np.random.seed(7)
    embedder = dvml_tf.load(run)
    assert np.random.random() == first_draw
    np.testing.assert_allclose(embedder.embed(images), expected, rtol=1e-5, atol=1e-6)
