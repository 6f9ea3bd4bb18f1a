"""A real digits run through the CLI: its metrics, TensorBoard and figures.

Resuming is tested in test_resume.py, the export in test_deployment.py."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import tensorflow as tf
from commands import ROOT, run_main
from PIL import Image

pytestmark = pytest.mark.slow

# Five unseen digit classes of ~180 images each: a random embedding's Recall@1 is ~0.2,
# what a run whose labels lost their images would score. The digits are easy for any CNN
# (an untrained one scores ~0.97), so this bounds the pipeline, not learning; 300 steps
# gave 0.71 on TensorFlow 2.15 and 0.57 on 2.21.
CHANCE_RECALL_AT_1 = 0.2
STEPS = 300


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("digits")
    flags = [f"--model_dir={base / 'run'}",
             f"--export_dir={base / 'export'}", f"--train_steps={STEPS}", "--phase1_steps=150",
             "--checkpoint_every=100", "--summary_every=25"]
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    return base, flags


def test_metrics_file_reports_recall_far_above_chance(trained_run):
    base, _ = trained_run
    metrics = json.load(open(base / "run" / "metrics.json"))
    for key in ("recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["num_test_images"] == 896 and metrics["num_test_classes"] == 5
    assert metrics["recall@1"] > 2 * CHANCE_RECALL_AT_1
    assert metrics["step"] == STEPS


def test_diagnostics_file_holds_table_4_and_the_variance_branch(trained_run):
    base, _ = trained_run
    diagnostics = json.load(open(base / "run" / "diagnostics.json"))
    assert diagnostics["ks_classes"] == 5 and 0 < diagnostics["ks_p_value_mean"] < 1
    assert diagnostics["relative_deviation_percent"] > 0
    branch = diagnostics["variance_branch"]
    assert 0 <= branch["active_units"] <= 128 and branch["sigma_mean"] > 0
    assert diagnostics["step"] == STEPS


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_tensorboard_server_lists_the_losses(trained_run):
    base, _ = trained_run
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", f"--logdir={base / 'run' / 'logs'}",
         "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, tags = time.time() + 90, {}
        while time.time() < deadline:
            try:
                tags = _get_json(f"http://127.0.0.1:{port}/data/plugin/scalars/tags")
                if "train" in tags and "eval" in tags:
                    break
            except OSError:
                pass
            time.sleep(1)
        histograms = _get_json(f"http://127.0.0.1:{port}/data/plugin/histograms/tags")
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name in ("loss", "kl_loss", "reconstruction_loss", "synthesized_metric_loss",
                 "metric_loss"):
        assert f"losses/{name}" in tags["train"]
    for tag in ("lambdas/lambda1", "lambdas/lambda4", "learning_rate", "skipped_steps"):
        assert tag in tags["train"]
    assert {"eval/recall@1", "eval/nmi", "eval/f1", "eval/map@r"} <= set(tags["eval"])
    assert "variance/sigma_per_dimension" in histograms["train"]
    for name in ("active_units", "mu_between_class_share", "real_distance_to_class_centre",
                 "synthesized_distance_to_class_centre"):
        assert f"variance/{name}" in tags["train"]
    for name in ("kl_loss", "reconstruction_loss", "synthesized_metric_loss", "metric_loss"):
        for target in ("log_var", "backbone_output"):
            assert f"gradient_norms/{name}_on_{target}" in tags["train"]


def test_visualize_writes_figures_projector_and_tensorboard_images(trained_run):
    base, _ = trained_run
    run = base / "run"
    result = subprocess.run([sys.executable, "-m", "dvml_tf.cli.visualize", f"--model_dir={run}",
                             "--max_images=300"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("tsne", "central_latent_space"):
        with Image.open(run / "figures" / f"{name}.png") as figure:
            assert figure.size == (1000, 1000)
    projector = run / "logs" / "visualize"
    config = (projector / "projector_config.pbtxt").read_text()
    assert "metadata.tsv" in config and "sprite.png" in config
    labels = (projector / "metadata.tsv").read_text().split()
    assert len(labels) == 300 and set(labels) == {"5", "6", "7", "8", "9"}
    events = [e for f in projector.glob("events.out.tfevents.*")
              for e in tf.compat.v1.train.summary_iterator(str(f))]
    tags = {v.tag for e in events for v in e.summary.value}
    assert {"tsne", "central_latent_space"} <= tags
