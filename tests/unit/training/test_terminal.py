"""What a run prints: plain log lines that never break the progress line, progress by the
global step with an ETA for the whole run, and a short closing block with the metrics."""
import io
import logging
import os
import types

import pytest
import tensorflow as tf

import dvml_tf
from dvml_tf import terminal
from dvml_tf.training import callbacks
from dvml_tf.training.run import closing_lines


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class FakeFile(io.StringIO):
    def isatty(self):
        return False


def _status_on(stream, monkeypatch):
    monkeypatch.setattr(terminal, "STATUS", terminal.StatusLine(stream))
    monkeypatch.setattr(callbacks, "STATUS", terminal.STATUS)
    return stream


@pytest.fixture
def tty(monkeypatch):
    return _status_on(FakeTerminal(), monkeypatch)


@pytest.fixture
def log_file(monkeypatch):
    return _status_on(FakeFile(), monkeypatch)


def _record(level, message, path):
    return logging.LogRecord("x", level, path, 1, message, None, None)


def test_log_lines_are_plain_and_only_ours_below_warning(log_file):
    ours = os.path.join(os.path.dirname(dvml_tf.__file__), "training", "loop.py")
    theirs = os.path.join(os.path.dirname(tf.__file__), "python", "checkpoint", "saver.py")
    handler = terminal.LineHandler()
    handler.emit(_record(logging.INFO, "saved checkpoint at step 10", ours))
    handler.emit(_record(logging.INFO, "Sharding callback duration: 8", theirs))
    handler.emit(_record(logging.WARNING, "something odd", theirs))
    lines = log_file.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0][8:] == " saved checkpoint at step 10" and lines[0][2] == lines[0][5] == ":"
    assert lines[1].endswith(" warning: something odd")


def test_a_log_line_clears_the_progress_line_and_redraws_it(tty):
    terminal.STATUS.show("step 5/10")
    terminal.STATUS.write_line("saved checkpoint at step 5")
    terminal.STATUS.clear()
    assert tty.getvalue() == ("\r\033[Kstep 5/10" "\r\033[Ksaved checkpoint at step 5\nstep 5/10"
                              "\r\033[K")


def test_off_a_terminal_the_status_line_writes_nothing(log_file):
    terminal.STATUS.show("step 5/10")
    terminal.STATUS.write_line("a line")
    assert log_file.getvalue() == "a line\n"


def _model_at(step):
    return types.SimpleNamespace(steps_taken=tf.Variable(step))


def test_progress_counts_global_steps_with_an_eta_for_the_whole_run(log_file, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    progress = callbacks.Progress(train_steps=1000, every=50)
    model = _model_at(100)  # a resumed run
    progress.set_model(model)
    progress.on_train_begin()
    for step in range(101, 201):
        model.steps_taken.assign(step)
        clock[0] += 0.1
        progress.on_train_batch_end(step, {"loss": 2.5})
    lines = log_file.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["150/1000", "200/1000"]
    # Timed from step 101: 99 steps in 9.9 s, and the 800 steps left take 80 s.
    assert lines[-1].endswith("20%  loss 2.5  10.0 steps/s  ETA 1:20")


def test_progress_rate_leaves_evaluations_out_and_its_eta_counts_them_in(log_file,
                                                                        monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    timer = callbacks.EvaluationTimer()
    timer.durations.append(20.0)  # the untrained evaluation, before the first step
    summaries = types.SimpleNamespace(latest_loss=22.63)  # what TensorBoard has
    progress = callbacks.Progress(train_steps=1000, every=50, summaries=summaries,
                                  timer=timer, eval_every=250, final_evaluation=True)
    model = _model_at(0)
    progress.set_model(model)
    progress.on_train_begin()
    for step in range(1, 301):
        model.steps_taken.assign(step)
        clock[0] += 0.1
        progress.on_train_batch_end(step, {"loss": 26.15})  # Keras's running mean
        if step == 250:  # the periodic evaluation, 20 s
            clock[0] += 20.0
            timer.durations.append(20.0)
    # 299 steps in 29.9 s of training (49.9 s with the evaluation); left: 700 steps at
    # 10/s and the evaluations at 500, 750 and 1000 at their mean of 20 s.
    assert log_file.getvalue().splitlines()[-1].endswith(
        "step 300/1000  30%  loss 22.63  10.0 steps/s  ETA 2:10")


def test_phase_2_is_announced_at_its_first_step(caplog):
    phase = callbacks.PhaseStart(phase1_steps=5)
    model = types.SimpleNamespace(steps_taken=tf.Variable(4),
                                  lambdas=lambda step: tf.constant([0.8, 1.0, 0.2, 0.8]))
    phase.set_model(model)
    with caplog.at_level(logging.INFO):
        phase.on_train_batch_end(0)
        model.steps_taken.assign(5)
        phase.on_train_batch_end(0)
        model.steps_taken.assign(6)
        phase.on_train_batch_end(0)
    assert [r.getMessage() for r in caplog.records] == [
        "phase 2 from step 6: the reconstruction loss now trains the encoder too; "
        "lambda1-4 = 0.8, 1, 0.2, 0.8"]


def test_the_closing_block_shows_each_headline_metric_untrained_and_trained_once():
    metrics = {"recall@1": 0.73, "recall@1_ci95": [0.7, 0.76], "recall@2": 0.8, "nmi": 0.6,
               "num_test_images": 3280, "untrained": {"recall@1": 0.089, "nmi": 0.239}}
    assert closing_lines(metrics, 300, "runs/x") == [
        "step 300: Recall@1 0.089 untrained \u2192 0.730 trained",
        "          NMI 0.239 untrained \u2192 0.600 trained",
        "every metric: runs/x/metrics.json"]
    assert closing_lines({"map@r": 0.5}, 7, "r", arrow="->") == [
        "step 7: MAP@R 0.500", "every metric: r/metrics.json"]


def test_progress_says_when_steps_were_skipped_and_shows_no_loss_before_a_finite_one(
        log_file):
    """All steps skipped (a non-finite loss): 'loss -' and the count, never 'loss 0'."""
    model = types.SimpleNamespace(steps_taken=tf.Variable(0), skipped_steps=tf.Variable(0))
    progress = callbacks.Progress(train_steps=100, every=50)
    progress.set_model(model)
    progress.on_train_begin()
    for step in range(1, 51):
        model.steps_taken.assign(step)
        model.skipped_steps.assign(step)
        progress.on_train_batch_end(step, {"loss": 0.0})  # what Keras reports then
    line = log_file.getvalue().splitlines()[-1]
    assert "loss -  50 skipped (non-finite)" in line and "loss 0" not in line


@pytest.mark.parametrize("stream", [FakeTerminal, FakeFile])
def test_a_long_count_asks_the_terminal_only_when_a_redraw_is_due(stream, monkeypatch):
    """SOP's preparation counts 720,439 files: each advance asking isatty cost 35 s."""
    status = _status_on(stream(), monkeypatch)
    asked = []
    monkeypatch.setattr(terminal.StatusLine, "is_tty",
                        lambda self: asked.append(1) or self.stream.isatty())
    clock = iter(range(10**6))
    monkeypatch.setattr(terminal.time, "monotonic", lambda: next(clock) / 1000.0)
    progress = terminal.CountProgress("writing", total=100_000)
    for _ in range(100_000):  # 100 s of the fake clock
        progress.advance()
    # Once per redraw interval (a redraw asks once more, in show).
    assert len(asked) <= 2 * (100 / progress.redraw_seconds + 1)
    shown = status.getvalue()
    if stream is FakeTerminal:  # the last redraw within the last 0.25 s (250 counts)
        last = int(shown.rsplit("writing: ", 1)[1].split(" /")[0].replace(",", ""))
        assert last >= 100_000 - 250
    else:  # a line every 30 s: at 30, 60 and 90 s
        assert shown.count("writing: ") == 3
