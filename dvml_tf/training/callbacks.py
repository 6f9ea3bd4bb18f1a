"""Keras callbacks of a training run: step limit, TensorBoard scalars, checkpoints, evaluation."""
import logging
import time

import keras
import numpy as np

from dvml_tf import tensorboard_tags
from dvml_tf.errors import UserError, flag
from dvml_tf.terminal import STATUS, stamped
from dvml_tf.training.checkpoints import current_step
from dvml_tf.training.interrupt import interrupts_deferred
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
                f"gradient (raise {flag('max_consecutive_skipped')} to allow more); last good "
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
        self.latest_loss = None  # the total loss's mean over the last window, as logged

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
        # The schedule is also written at the last step of phase 1 and the first of phase
        # 2, so that TensorBoard draws the switch as a step, not a ramp over a window.
        last_of_phase1 = self.model.settings.phase1_steps
        switch = self.model.settings.dvml and step in (last_of_phase1, last_of_phase1 + 1)
        if step % self.every and not switch:
            return
        with self.writer.as_default(step=step):
            for index, value in enumerate(self.model.lambdas(step - 1).numpy(), start=1):
                tensorboard_tags.scalar(f"{tensorboard_tags.TRAINING}/lambda{index}", value)
            if self.model.settings.dvml:
                tensorboard_tags.scalar(f"{tensorboard_tags.TRAINING}/phase",
                                        1 if bool(self.model.in_phase1(step - 1)) else 2)
            if step % self.every == 0:
                self._write_window(step)
        self.writer.flush()

    def _write_window(self, step):
        means = self._window_means()
        self.latest_loss = means.get("loss", self.latest_loss)
        for name, value in means.items():
            tensorboard_tags.scalar(f"{tensorboard_tags.LOSSES}/{name}", value)
        tensorboard_tags.scalar(f"{tensorboard_tags.TRAINING}/skipped_steps",
                                self.model.skipped_steps)
        tensorboard_tags.scalar(f"{tensorboard_tags.TRAINING}/learning_rate",
                                self.model.optimizer.learning_rate)
        if self.model.settings.dvml:
            if self._write_variance is None:
                self._write_variance = variance_summary_writer(self.model)
            self._write_variance(*self.probe, step)


class SaveCheckpoints(keras.callbacks.Callback):
    """Saves at fit epoch ends on a multiple of `every` steps, at the end of training, and
    when `save_now` is called (Ctrl-C)."""

    def __init__(self, manager, every):
        super().__init__()
        self.manager = manager
        self.every = every

    def save_now(self) -> str:
        """Saves the step the model finished last (unless saved already); returns the path."""
        step = current_step(self.model)
        if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
            return self.manager.latest_checkpoint
        bad = self.model.non_finite_weights()
        if bad:  # never a checkpoint that cannot be resumed: the last good one stays latest
            raise UserError(f"training stopped at step {step}: {len(bad)} weights became NaN "
                            f"or infinite (e.g. {bad[0]}), nothing saved; last good "
                            f"checkpoint: {self.manager.latest_checkpoint or 'none'}")
        with interrupts_deferred():  # a Ctrl-C here comes after the checkpoint is whole
            path = self.manager.save(checkpoint_number=step)
        logging.info("saved checkpoint at step %d", step)
        return path

    def on_epoch_end(self, epoch, logs=None):
        if current_step(self.model) % self.every == 0:
            self.save_now()

    def on_train_end(self, logs=None):
        self.save_now()


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


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class EvaluationTimer:
    """Times a run's evaluations, so that Progress can leave them out of the training
    rate and count them in the ETA."""

    def __init__(self):
        self.durations = []

    def timed(self, function):
        """`function`, its calls timed."""
        def run(*args):
            started = time.monotonic()
            try:
                return function(*args)
            finally:
                self.durations.append(time.monotonic() - started)
        return run

    def total(self) -> float:
        return sum(self.durations)

    def mean(self) -> float:
        return self.total() / len(self.durations) if self.durations else 0.0


class PhaseStart(keras.callbacks.Callback):
    """Says when DVML's phase 2 begins (Sec. 3.5): the step from which the reconstruction
    loss trains the encoder too, and the lambdas it uses."""

    def __init__(self, phase1_steps):
        super().__init__()
        self.phase1_steps = phase1_steps

    def on_train_batch_end(self, batch, logs=None):
        if current_step(self.model) == self.phase1_steps:
            lambdas = ", ".join(f"{v:g}" for v in self.model.lambdas(self.phase1_steps).numpy())
            logging.info("phase 2 from step %d: the reconstruction loss now trains the "
                         "encoder too; lambda1-4 = %s", self.phase1_steps + 1, lambdas)


class Progress(keras.callbacks.Callback):
    """The run's progress: the global step out of `train_steps`, the loss TensorBoard
    shows (the mean over the last --summary_every window, from `summaries`), steps/s of
    training alone and an ETA for the whole run: the steps left at that rate plus the
    evaluations left (every `eval_every` steps, and a final one when `final_evaluation`)
    at their mean duration (`timer`). Rewritten in place on a terminal (at most every
    `redraw_seconds`), a line every `every` steps elsewhere."""

    BAR = 20

    def __init__(self, train_steps, every, summaries=None, timer=None, eval_every=0,
                 final_evaluation=False, redraw_seconds=0.25):
        super().__init__()
        self.train_steps = train_steps
        self.every = every
        self.summaries = summaries
        self.timer = timer or EvaluationTimer()
        self.eval_every = eval_every
        self.final_evaluation = final_evaluation
        self.redraw_seconds = redraw_seconds

    def on_train_begin(self, logs=None):
        self.first_step = None  # the rate counts from the end of the first (traced) step
        self.drawn = time.monotonic()

    def evaluations_left(self, step: int) -> int:
        periodic = (self.train_steps // self.eval_every - step // self.eval_every
                    if self.eval_every else 0)
        final_is_periodic = self.eval_every and self.train_steps % self.eval_every == 0
        return periodic + int(self.final_evaluation and not final_is_periodic)

    def text(self, step, loss, now):
        done = step - self.first_step
        training = max(now - self.started - (self.timer.total() - self.evaluated), 1e-9)
        rate = done / training
        parts = [f"step {step}/{self.train_steps}"]
        if STATUS.is_tty():
            filled = self.BAR * step // self.train_steps
            parts.append("[" + "=" * filled + " " * (self.BAR - filled) + "]")
        eta = "?"
        if done:
            evaluating = self.evaluations_left(step) * self.timer.mean()
            eta = _duration((self.train_steps - step) / rate + evaluating)
        # No finite step yet: no loss to show (a tracker that counted nothing reads 0).
        parts += [f"{100 * step // self.train_steps}%",
                  "loss -" if loss is None else f"loss {loss:.4g}"]
        skipped = getattr(self.model, "skipped_steps", None)
        if skipped is not None and int(skipped.numpy()):
            parts.append(f"{int(skipped.numpy())} skipped (non-finite)")
        parts += [f"{rate:.1f} steps/s", f"ETA {eta}"]
        return "  ".join(parts)

    def _loss(self, logs):
        if self.summaries is not None and self.summaries.latest_loss is not None:
            return self.summaries.latest_loss
        # Every step so far skipped: no loss to show. Read from the step counters, which are
        # the first replica's (a metric's own count would be a collective read that only
        # this chief makes, and would wait for the other workers for ever).
        skipped = getattr(self.model, "skipped_steps", None)
        if skipped is not None and int(skipped.numpy()) >= int(self.model.steps_taken.numpy()):
            return None
        return float((logs or {}).get("loss", float("nan")))

    def on_train_batch_end(self, batch, logs=None):
        step, now = current_step(self.model), time.monotonic()
        if self.first_step is None:
            self.first_step, self.started, self.evaluated = step, now, self.timer.total()
        if STATUS.is_tty():
            if now - self.drawn >= self.redraw_seconds or step >= self.train_steps:
                STATUS.show(self.text(step, self._loss(logs), now))
                self.drawn = now
        elif step % self.every == 0 or step >= self.train_steps:
            STATUS.write_line(stamped(self.text(step, self._loss(logs), now)))

    def on_train_end(self, logs=None):
        STATUS.clear()
