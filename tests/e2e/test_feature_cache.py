"""A frozen backbone's cached features (--feature_cache, the default) train and evaluate a
run that equals the same run reading its images, up to float rounding; later runs read the
features from the cache folder."""
import json
import os

import numpy as np
import pytest

from dvml_tf.cache import cache_dir
from dvml_tf.cli.settings import parse_config
from dvml_tf.training.checkpoints import load_trained_model
from dvml_tf.training.run import run_modes

# Digits at 16 px, no random crop, random flips, DVML with margin + DWS (its own beta).
# Not --deterministic: op determinism, once on, stays on for the rest of the process.
FROZEN = ["--dataset=digits", "--backbone=small_cnn", "--image_size=16", "--resize_size=16",
          "--random_flip", "--freeze_backbone", "--embedding_dim=8", "--decoder_hidden=8",
          "--num_samples=2", "--classes_per_batch=4", "--images_per_class=2",
          "--train_steps=12", "--phase1_steps=6", "--checkpoint_every=6", "--recall_k=1",
          "--metric_loss=margin_dws", "--eval_bootstrap=0", "--nofigures", "--export_dir=",
          "--noeval_untrained"]


def _run(folder, *flags):
    metrics = run_modes(parse_config(FROZEN + [f"--model_dir={folder}", *flags]))
    model, _ = load_trained_model(str(folder))
    return metrics, [v.numpy() for v in model.trainable_variables]


@pytest.mark.slow
def test_cached_run_equals_the_run_on_images(tmp_path):
    uncached, uncached_weights = _run(tmp_path / "images", "--nofeature_cache")
    assert not os.path.isdir(os.path.join(cache_dir(), "features"))
    cached, cached_weights = _run(tmp_path / "cached")
    assert len(os.listdir(os.path.join(cache_dir(), "features"))) == 2  # train, test
    for ours, theirs in zip(cached_weights, uncached_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    for name in ("recall@1", "map@r", "nmi"):
        assert cached[name] == pytest.approx(uncached[name], abs=1e-6)
    again, _ = _run(tmp_path / "again")
    assert again["map@r"] == pytest.approx(cached["map@r"], abs=1e-6)
    with open(tmp_path / "again" / "metrics.json") as f:
        assert json.load(f)["recall@1"] == again["recall@1"]


@pytest.mark.slow
def test_fine_tuning_the_top_from_cached_activations_equals_the_run_on_images(tmp_path):
    """--fine_tune_from: the layers below are cached and frozen, the top trains (its batch
    norm too); both equal the run that reads its images."""
    flags = ["--nofreeze_backbone", "--fine_tune_from=block3_conv0"]
    uncached, uncached_weights = _run(tmp_path / "images", *flags, "--nofeature_cache")
    cached, cached_weights = _run(tmp_path / "cached", *flags)
    model, _ = load_trained_model(str(tmp_path / "cached"))
    trained = {v.path for v in model.trainable_variables}
    assert any("block3_conv0" in path for path in trained)
    assert not any("block2" in path for path in trained)
    for ours, theirs in zip(cached_weights, uncached_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    assert cached["map@r"] == pytest.approx(uncached["map@r"], abs=1e-6)
    moving = [v for v in model.backbone.non_trainable_variables if "block3_bn0" in v.path]
    assert moving and any(not np.allclose(v.numpy(), 0) and not np.allclose(v.numpy(), 1)
                          for v in moving)
