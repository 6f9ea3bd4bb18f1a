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


def _save(folder, name, array):
    np.save(folder / name, np.asarray(array))
    return f"{folder / name}"


def test_cli_query_gallery_bootstrap_and_their_bad_input(tmp_path):
    rng = np.random.default_rng(0)
    gallery = _save(tmp_path, "g.npy", rng.normal(size=(40, 4)).astype("f4"))
    gallery_labels = _save(tmp_path, "gl.npy", np.arange(40) % 8)
    queries = _save(tmp_path, "q.npy", rng.normal(size=(10, 4)).astype("f4"))
    query_labels = _save(tmp_path, "ql.npy", np.array([0, 1, 2, 3, 4, 5, 6, 7, 99, 99]))
    pair = [f"--embeddings={gallery}", f"--labels={gallery_labels}"]
    result = _evaluate(*pair, f"--query_embeddings={queries}", f"--query_labels={query_labels}",
                       "--recall_k=1,4", "--bootstrap=50")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["num_queries"] == 10 and metrics["num_queries_without_gallery_class"] == 2
    assert "2 queries have a class the gallery lacks" in result.stderr
    low, high = metrics["recall@4_ci95"]
    assert low <= metrics["recall@4"] <= high and "nmi" not in metrics
    # The gallery as its own query file: a query never retrieves itself.
    itself = _evaluate(*pair, f"--query_embeddings={gallery}", f"--query_labels={gallery_labels}")
    alone = _evaluate(*pair)
    assert json.loads(itself.stdout)["recall@1"] == json.loads(alone.stdout)["recall@1"] < 1
    wide = _save(tmp_path, "w.npy", rng.normal(size=(10, 5)).astype("f4"))
    for flags, message in (
            ([f"--query_embeddings={wide}", f"--query_labels={query_labels}"],
             "query embeddings have 5 dimensions, gallery embeddings 4"),
            (["--bootstrap=0"], "error: --bootstrap=0 must be positive")):
        bad = _evaluate(*pair, *flags)
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and message in lines[0], bad.stderr
