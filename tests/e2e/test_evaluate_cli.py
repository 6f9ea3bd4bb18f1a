"""`python -m dvml_tf.cli.evaluate` on files the test writes."""
import json
import subprocess
import sys

import numpy as np
import pytest
from commands import ROOT

pytestmark = pytest.mark.slow


def _evaluate(*flags):
    return subprocess.run([sys.executable, "-m", "dvml_tf.cli.evaluate", *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_prints_metrics_of_written_files(tmp_path):
    # Two tight clusters and one point of class 1 placed inside class 0's cluster.
    embeddings = np.array([[1, 0], [1, 0.01], [0.99, 0], [0, 1], [0.01, 1], [1, 0.2]], "f4")
    labels = np.array([0, 0, 0, 1, 1, 1])
    np.save(tmp_path / "e.npy", embeddings)
    np.save(tmp_path / "l.npy", labels)
    result = _evaluate(f"--embeddings={tmp_path / 'e.npy'}", f"--labels={tmp_path / 'l.npy'}",
                       "--recall_k=1,2")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    # Queries 0-4 find their class first; query 5's two nearest are class 0.
    assert metrics["recall@1"] == pytest.approx(5 / 6)
    assert metrics["recall@2"] == pytest.approx(5 / 6)
    assert metrics["num_test_images"] == 6 and metrics["num_test_classes"] == 2
    assert {"nmi", "f1", "map@r"} <= set(metrics)


def test_cli_bad_input_is_one_line_error(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((3, 2), "f4"))
    np.save(tmp_path / "l.npy", np.array([0, 1]))
    result = _evaluate(f"--embeddings={tmp_path / 'e.npy'}", f"--labels={tmp_path / 'l.npy'}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --embeddings=")
    assert lines[0].endswith(": 3 embeddings but 2 labels")
    missing = _evaluate("--embeddings=/no/e.npy", f"--labels={tmp_path / 'l.npy'}")
    assert missing.returncode == 2 and "--embeddings=/no/e.npy" in missing.stderr
