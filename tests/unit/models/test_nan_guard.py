"""Non-finite steps are skipped and counted; too many in a row stop training, checkpoint intact."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model

from dvml_tf.errors import UserError
from dvml_tf.training import callbacks
from dvml_tf.training.checkpoints import checkpoint_manager


def _weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def test_nan_batch_is_skipped_and_counted():
    model = tiny_model()
    images, labels = tiny_batch()
    before = _weights(model)
    poisoned = images.copy()
    poisoned[0, 0, 0, 0] = np.nan
    logs = model.train_step((tf.constant(poisoned), tf.constant(labels)))
    for old, new in zip(before, _weights(model)):
        np.testing.assert_array_equal(old, new)
    assert int(model.steps_taken) == 1  # the step still counts: data stays aligned
    assert int(model.skipped_steps) == 1 and int(model.consecutive_skipped) == 1
    assert np.isfinite(float(logs["loss"]))  # the NaN is kept out of the running means
    model.train_step((tf.constant(images), tf.constant(labels)))
    assert int(model.consecutive_skipped) == 0 and int(model.skipped_steps) == 1
    assert any(not np.array_equal(o, n) for o, n in zip(before, _weights(model)))


def test_a_finite_loss_with_a_non_finite_gradient_is_skipped():
    model = tiny_model()
    images, labels = tiny_batch()
    compute_losses, losses_of_features = model.compute_losses, model.losses_of_features

    def with_nan_gradient(*args, **kwargs):
        terms = losses_of_features(*args, **kwargs)
        kernel = model.encoder.get_layer("mu").kernel
        # sqrt at 0: the value 0, the gradient inf * 0 = NaN on mu's kernel.
        terms["loss"] = terms["loss"] + tf.sqrt(tf.reduce_sum(kernel * 0.0))
        return terms

    model.losses_of_features = with_nan_gradient
    before = _weights(model)
    logs = model.train_step((tf.constant(images), tf.constant(labels)))
    assert np.isfinite(float(compute_losses(images, labels, 0)["loss"]))
    for old, new in zip(before, _weights(model)):
        np.testing.assert_array_equal(old, new)
    assert int(model.skipped_steps) == 1 and int(model.steps_taken) == 1
    assert np.isfinite(float(logs["loss"]))


def test_log_var_is_bounded():
    model = tiny_model()
    images, _ = tiny_batch()
    layer = model.encoder.get_layer("log_var")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, 1e4)])
    _, _, log_var = model.encoder(model.backbone(images))
    assert float(tf.reduce_max(log_var)) <= 10.0
    assert np.isfinite(tf.exp(log_var).numpy()).all()


def test_consecutive_bad_steps_stop_training_with_checkpoint_intact(tmp_path):
    model = tiny_model()
    images, labels = tiny_batch()
    manager = checkpoint_manager(model, str(tmp_path))
    model.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(2), verbose=0)
    saved = manager.save(checkpoint_number=2)
    good = _weights(model)
    poisoned = np.full_like(images, np.nan)
    bad_batches = tf.data.Dataset.from_tensors((poisoned, labels)).repeat()
    with pytest.raises(UserError, match="3 consecutive steps had a non-finite loss"):
        model.fit(bad_batches, steps_per_epoch=10, epochs=1, verbose=0,
                  callbacks=[callbacks.StopOnNonFinite(3, manager)])
    assert int(model.steps_taken) == 5  # stopped at the third bad step
    assert manager.latest_checkpoint == saved
    for old, new in zip(good, _weights(model)):
        np.testing.assert_array_equal(old, new)


def test_non_finite_weights_names_an_infinity_too():
    import numpy as np
    from helpers import tiny_model

    model = tiny_model()
    kernel = model.encoder.get_layer("mu").kernel
    kernel.assign(np.where(np.eye(*kernel.shape) > 0, np.inf, kernel.numpy()))
    assert model.non_finite_weights() == [kernel.path]
