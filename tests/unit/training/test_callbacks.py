"""TensorBoard training scalars: each summary is the mean of its own window of steps."""
import glob

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_batch, tiny_model

from dvml_tf.training.callbacks import TrainingSummaries


def _logged(log_dir, tag):
    values = {}
    for path in glob.glob(str(log_dir / "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_loss_summary_is_the_mean_of_its_window(tmp_path):
    model = tiny_model(dvml=False)
    model.optimizer.learning_rate.assign(0.0)  # fixed weights: each batch's loss is known
    batches = [tiny_batch(seed=seed) for seed in range(6)]
    per_step = [float(model.compute_losses(x, y, 0)["loss"]) for x, y in batches]
    dataset = tf.data.Dataset.from_tensor_slices(
        (np.stack([b[0] for b in batches]), np.stack([b[1] for b in batches])))
    writer = tf.summary.create_file_writer(str(tmp_path))
    summaries = TrainingSummaries(writer, every=3, probe_images=batches[0][0],
                                  probe_labels=batches[0][1])
    history = model.fit(dataset, epochs=1, verbose=0, callbacks=[summaries])
    logged = _logged(tmp_path, "1_losses/loss")
    np.testing.assert_allclose(logged[3], np.mean(per_step[:3]), rtol=1e-5)
    np.testing.assert_allclose(logged[6], np.mean(per_step[3:]), rtol=1e-5)
    assert abs(np.mean(per_step[3:]) - np.mean(per_step)) > 1e-3  # a running mean would fail
    # Keras's own epoch logs (the progress bar, History) keep the epoch's mean.
    np.testing.assert_allclose(history.history["loss"][0], np.mean(per_step), rtol=1e-5)


def test_a_model_with_non_finite_weights_is_never_checkpointed(tmp_path):
    from dvml_tf.errors import UserError
    from dvml_tf.training.callbacks import SaveCheckpoints
    from dvml_tf.training.checkpoints import checkpoint_manager

    model = tiny_model()
    manager = checkpoint_manager(model, str(tmp_path))
    saver = SaveCheckpoints(manager, every=1)
    saver.set_model(model)
    saver.on_train_end()  # finite: saved
    assert manager.latest_checkpoint.endswith("-0")
    model.steps_taken.assign(1)
    kernel = model.encoder.get_layer("mu").kernel
    kernel.assign(np.where(np.eye(*kernel.shape) > 0, np.nan, kernel.numpy()))
    with pytest.raises(UserError, match=r"^training stopped at step 1: 1 weights became NaN "
                                        r"or infinite \(e\.g\. mu/kernel\), nothing saved; "
                                        r"last good checkpoint: .*ckpt-0$"):
        saver.on_train_end()
    assert manager.latest_checkpoint.endswith("-0")
    assert not any("ckpt-1" in path.name for path in (tmp_path / "checkpoints").iterdir())
