"""The run as a terminal shows it (through a pseudo-terminal): one progress line redrawn in
place, which keeps moving during an evaluation, log lines above it, the closing block."""
import os
import pty
import re
import subprocess

import pytest
from commands import ROOT, main_command

pytestmark = pytest.mark.slow
CLEAR_LINE = "\r\x1b[K"


def test_the_progress_line_moves_in_place_and_through_evaluations(tmp_path):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        main_command(f"--model_dir={tmp_path / 'run'}", "--export_dir=", "--train_steps=40",
                     "--eval_every=20", "--summary_every=10", "--phase1_steps=20", "--nofigures"),
        cwd=ROOT, stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process ended and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0
    shown = b"".join(chunks).decode()
    # Progress redrawn in place with its bar; during the evaluation at step 20 the line
    # counts the test images being embedded, then the metrics being computed.
    assert re.search(r"\r\x1b\[Kstep \d+/40  \[=* *\]  \d+%  loss \S+  \S+ steps/s  ETA ",
                     shown)
    during = shown.split("evaluation at step 0 (untrained)")[1]
    assert re.search(r"\r\x1b\[Kevaluating: embedding the test images: [\d,]+ / 3,280", during)
    assert f"{CLEAR_LINE}evaluating: metrics and diagnostics of 3,280 embeddings" in during
    # Log lines are whole lines of their own: the progress line is cleared before each.
    for line in re.findall(r"\d\d:\d\d:\d\d (?:evaluation|phase|saved)[^\r\n]*", shown):
        assert f"{CLEAR_LINE}{line}" in shown, line
    assert "step 40: Recall@1 " in shown and "TensorBoard: tensorboard --logdir" in shown
