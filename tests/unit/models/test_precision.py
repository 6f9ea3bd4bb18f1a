"""Mixed precision: the backbone computes in 16 bits, the four losses and every variable
stay float32, training steps are finite, and the policy does not outlive its model."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch

from dvml_tf.cli.settings import parse_config
from dvml_tf.training.build import build_model

TINY = ["--image_size=16", "--resize_size=16", "--embedding_dim=8", "--decoder_hidden=8",
        "--num_samples=3", "--classes_per_batch=4", "--images_per_class=2", "--phase1_steps=0",
        "--metric_loss=npairs"]
COMPUTE_DTYPES = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}


@pytest.mark.parametrize("policy", sorted(COMPUTE_DTYPES))
def test_backbone_in_16_bits_losses_and_variables_in_float32(policy):
    model = build_model(parse_config([*TINY, f"--mixed_precision={policy}"]))
    images, labels = tiny_batch(classes=4, per_class=2)
    assert model.backbone(images).dtype == COMPUTE_DTYPES[policy]
    terms = model.compute_losses(tf.constant(images), tf.constant(labels), step=0)
    for name, value in terms.items():
        assert value.dtype == tf.float32, name
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    history = model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(),
                        steps_per_epoch=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))
    assert int(model.skipped_steps.numpy()) == 0


def test_precision_policy_does_not_leak_into_a_later_model():
    build_model(parse_config([*TINY, "--mixed_precision=mixed_float16"]))
    assert keras.mixed_precision.global_policy().name == "float32"
    later = build_model(parse_config(TINY))
    images, _ = tiny_batch(classes=4, per_class=2)
    assert later.backbone(images).dtype == tf.float32


def test_a_non_finite_step_under_loss_scaling_is_skipped_and_counted():
    """mixed_float16 trains through a LossScaleOptimizer; a NaN batch must still be a
    skipped step (not logged as NaN, not counted as taken by the non-finite guard)."""
    model = build_model(parse_config([*TINY, "--mixed_precision=mixed_float16"]))
    images, labels = tiny_batch(classes=4, per_class=2)
    images[0, 0, 0, 0] = np.nan
    logs = model.train_step((tf.constant(images), tf.constant(labels)))
    assert int(model.skipped_steps.numpy()) == 1
    assert int(model.consecutive_skipped.numpy()) == 1
    assert np.isfinite(float(logs["loss"]))
