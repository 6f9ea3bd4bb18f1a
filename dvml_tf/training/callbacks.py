"""Keras callbacks of a training run: step limit, TensorBoard scalars, checkpoints, evaluation."""
import logging

import numpy as np
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.keras_api import keras
from dvml_tf.training.checkpoints import current_step
from dvml_tf.training.variance_summaries import variance_summary_writer


class StopAtStep(keras.callbacks.Callback):
    """Ends fit once the optimizer has taken `last_step` steps."""

    def __init__(self, last_step):
        super().__init__()
        self.last_step = last_step

    def on_train_batch_end(self, batch, logs=None):
        if current_step(self.model) >= self.last_step:
            self.model.stop_training = True


class StopOnNonFinite(keras.callbacks.Callback):
    """Ends training with a UserError after `limit` consecutive skipped (non-finite) steps.

    Skipped steps leave the weights untouched, and no checkpoint is written on the way
    out, so the last checkpoint stays the last good one.
    """

    def __init__(self, limit, manager):
        super().__init__()
        self.limit = limit
        self.manager = manager

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.consecutive_skipped.numpy()) >= self.limit:
            raise UserError(
                f"training stopped: {self.limit} consecutive steps had a non-finite loss or "
                f"gradient (raise --max_consecutive_skipped to allow more); last good "
                f"checkpoint: {self.manager.latest_checkpoint or 'none'}")


class TrainingSummaries(keras.callbacks.Callback):
    """Every `every` steps: each loss's mean over those steps, each lambda, the learning
    rate, and for DVML the variance branch on a fixed probe (probe_images, probe_labels)
    of training images (variance_summaries.py).

    Keras's loss trackers average from the start of each fit epoch; the window's mean
    comes from the change of their running total and count since the last summary.
    """

    def __init__(self, writer, every, probe_images, probe_labels):
        super().__init__()
        self.writer = writer
        self.every = every
        self.probe = (probe_images, np.asarray(probe_labels))
        self._previous = {}
        self._write_variance = None

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = {}  # Keras resets the trackers here

    def _window_means(self):
        means = {}
        for name, tracker in self.model.trackers.items():
            total, count = float(tracker.total.numpy()), float(tracker.count.numpy())
            previous_total, previous_count = self._previous.get(name, (0.0, 0.0))
            if count > previous_count:
                means[name] = (total - previous_total) / (count - previous_count)
            self._previous[name] = (total, count)
        return means

    def on_train_batch_end(self, batch, logs=None):
        step = current_step(self.model)
        if step % self.every:
            return
        lambdas = self.model.lambdas(step - 1).numpy()
        with self.writer.as_default(step=step):
            for name, value in self._window_means().items():
                tf.summary.scalar(f"losses/{name}", value)
            tf.summary.scalar("skipped_steps", self.model.skipped_steps)
            for index, value in enumerate(lambdas, start=1):
                tf.summary.scalar(f"lambdas/lambda{index}", value)
            tf.summary.scalar("learning_rate", self.model.optimizer.learning_rate)
            if self.model.settings.dvml:
                if self._write_variance is None:
                    self._write_variance = variance_summary_writer(self.model)
                self._write_variance(*self.probe, step)
        self.writer.flush()


class SaveCheckpoints(keras.callbacks.Callback):
    """Saves at fit epoch ends on a multiple of `every` steps, and at the end of training."""

    def __init__(self, manager, every):
        super().__init__()
        self.manager = manager
        self.every = every

    def _save(self):
        step = current_step(self.model)
        if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
            return
        self.manager.save(checkpoint_number=step)
        logging.info("saved checkpoint at step %d", step)

    def on_epoch_end(self, epoch, logs=None):
        if current_step(self.model) % self.every == 0:
            self._save()

    def on_train_end(self, logs=None):
        self._save()


class PeriodicEvaluation(keras.callbacks.Callback):
    """Runs `evaluate_fn(step)` at fit epoch ends that fall on a multiple of `every` steps."""

    def __init__(self, evaluate_fn, every):
        super().__init__()
        self.evaluate_fn = evaluate_fn
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        step = current_step(self.model)
        if step % self.every == 0:
            self.evaluate_fn(step)
