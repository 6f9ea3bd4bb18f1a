"""The default run (the bundled glyphs) through the CLI as a new user starts it: it shows
learning (untrained against trained), its terminal output, TensorBoard and figures.

Resuming is tested in test_resume.py, the export in test_deployment.py."""
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from commands import ROOT, run_main
from PIL import Image

from dvml_tf import tensorboard_tags
from dvml_tf.data.glyphs import CHARACTERS

pytestmark = pytest.mark.slow

STEPS = 300
# 300 steps took Recall@1 from 0.089 (untrained) to 0.730 (trained) on TensorFlow 2.21.
LEARNED = 0.3
TEST_CHARACTERS = set(CHARACTERS[len(CHARACTERS) // 2:])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("glyphs")
    flags = [f"--model_dir={base / 'run'}", f"--export_dir={base / 'export'}",
             f"--train_steps={STEPS}", "--phase1_steps=150", "--checkpoint_every=100",
             "--eval_every=100", "--summary_every=25"]
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    return base, result


def test_the_run_shows_what_training_learned(trained_run):
    base, _ = trained_run
    metrics = json.load(open(base / "run" / "metrics.json"))
    for key in ("recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r"):
        assert 0.0 <= metrics[key] <= 1.0
        assert 0.0 <= metrics["untrained"][key] <= 1.0
    assert metrics["num_test_classes"] == len(TEST_CHARACTERS)
    assert metrics["recall@1"] > metrics["untrained"]["recall@1"] + LEARNED
    assert metrics["step"] == STEPS


def test_the_terminal_shows_steps_plain_lines_and_the_metrics_once(trained_run):
    _, result = trained_run
    shown = [line for line in result.stdout.splitlines() if "Recall@1" in line]
    assert len(shown) == 1 and shown[0].startswith(f"step {STEPS}: Recall@1 ")
    assert re.search(r"Recall@1 0\.\d{3} untrained → 0\.\d{3} trained", shown[0])
    log = result.stderr.splitlines()
    assert not [line for line in log if re.match(r"[IWEF]\d{4} \d\d:", line)]  # absl's prefix
    assert not [line for line in log if "Epoch" in line or "oneDNN" in line]
    assert any(re.fullmatch(rf"\d\d:\d\d:\d\d step {STEPS}/{STEPS} .* ETA 0:00", line)
               for line in log)
    evaluations = [line for line in log if " evaluation at step " in line]
    assert [line.split(" evaluation at step ")[1].split(":")[0] for line in evaluations] == [
        "0 (untrained)", "100", "200"]
    assert len([line for line in log if "Recall@1" in line]) == len(evaluations)
    # Through a pipe too, each evaluation says when it moves from embedding to metrics.
    assert len([line for line in log if line[9:] == "evaluating: metrics and diagnostics "
                "of 3,280 embeddings"]) == len(evaluations) + 1  # and the final one
    assert log[0][9:] == "loading --dataset=glyphs"  # what is being loaded, first
    assert [line[9:] for line in log if " phase 2 " in line] == [
        "phase 2 from step 151: the reconstruction loss now trains the encoder too; "
        "lambda1-4 = 0.8, 1, 0.2, 0.8"]
    base = str(trained_run[0] / "run")
    assert result.stdout.splitlines()[-4:] == [
        f"exported SavedModel to {trained_run[0] / 'export' / 'dvml_glyphs' / '1'}",
        f"TensorBoard: tensorboard --logdir {base}/logs",
        f"             then open {tensorboard_tags.url()}",
        f"figures: {base}/figures"]


def test_the_progress_line_shows_the_loss_tensorboard_shows_at_that_step(trained_run):
    base, result = trained_run
    shown = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        r" step (\d+)/\d+ .* loss (\S+) ", result.stderr)}
    logged = {e.step: tf.make_ndarray(v.tensor).item()
              for f in (base / "run" / "logs" / "train").glob("events.out.tfevents.*")
              for e in tf.compat.v1.train.summary_iterator(str(f))
              for v in e.summary.value if v.tag == "1_losses/loss"}
    assert sorted(shown) == list(range(25, STEPS + 1, 25))
    for step, loss in shown.items():
        assert loss == pytest.approx(logged[step], rel=1e-3), step


def test_diagnostics_file_holds_table_4_and_the_variance_branch(trained_run):
    base, _ = trained_run
    diagnostics = json.load(open(base / "run" / "diagnostics.json"))
    assert diagnostics["ks_classes"] == len(TEST_CHARACTERS)
    assert 0 < diagnostics["ks_p_value_mean"] < 1
    assert diagnostics["relative_deviation_percent"] > 0
    branch = diagnostics["variance_branch"]
    assert 0 <= branch["active_units"] <= 128 and branch["sigma_mean"] > 0
    synthesized = diagnostics["synthesized_samples"]
    assert -1 <= synthesized["cosine_to_z_invariant_mean"] <= 1
    assert 0 <= synthesized["nearest_centre_own_class_synthesized"] <= 1
    assert diagnostics["step"] == STEPS


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _tensorboard(logdir, requests):
    """{request: its JSON} from a TensorBoard serving `logdir` on 127.0.0.1, once it has
    loaded the train and eval runs."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", f"--logdir={logdir}", "--host=127.0.0.1",
         f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/data/plugin/"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                tags = _get_json(url + "scalars/tags")
                if "train" in tags and "eval" in tags:
                    break
            except OSError:
                pass
            time.sleep(1)
        return {request: _get_json(url + request) for request in requests}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_tensorboard_explains_every_tag_and_draws_evaluation_curves(trained_run):
    base, _ = trained_run
    curve = "scalars/scalars?" + urllib.parse.urlencode({"run": "eval", "tag": "3_eval/recall@1"})
    answers = _tensorboard(base / "run" / "logs",
                           ["scalars/tags", "histograms/tags", curve])
    scalars, histograms = answers["scalars/tags"], answers["histograms/tags"]
    train = set(scalars["train"])
    for name in ("loss", "kl_loss", "reconstruction_loss", "synthesized_metric_loss",
                 "metric_loss"):
        assert f"1_losses/{name}" in train
    assert {"2_training/lambda1", "2_training/lambda4", "2_training/learning_rate",
            "2_training/skipped_steps", "2_training/phase"} <= train
    for name in ("sigma_mean", "mu_abs_mean", "active_units", "mu_between_class_share",
                 "real_distance_to_class_centre", "synthesized_distance_to_class_centre"):
        assert f"6_variance/{name}" in train
    for name in ("kl_loss", "reconstruction_loss", "synthesized_metric_loss", "metric_loss"):
        for target in ("log_var", "backbone_output"):
            assert f"7_gradient_norms/{name}_on_{target}" in train
    assert {"3_eval/recall@1", "3_eval/nmi", "3_eval/f1", "3_eval/map@r"} <= set(scalars["eval"])
    assert "6_variance/log10_sigma_per_dimension" in histograms["train"]
    for kind in (scalars, histograms):
        for run, tags in kind.items():
            for tag, info in tags.items():
                assert len(info["description"]) > 20, (run, tag)
    assert "lambda3" in scalars["train"]["2_training/lambda3"]["description"]
    assert "synthesized" in scalars["train"]["2_training/lambda3"]["description"]
    # Evaluated untrained, periodically and at the end: a curve, not a dot.
    assert [point[1] for point in answers[curve]] == [0, 100, 200, STEPS]
    # TensorBoard opens the first two groups by name: the losses, then lambda and phase;
    # the address the run prints pins evaluation curves that exist.
    groups = sorted({tag.split("/")[0] for kind in (scalars, histograms)
                     for tags in kind.values() for tag in tags})
    assert groups[:2] == ["1_losses", "2_training"] and "3_eval" in groups
    assert set(tensorboard_tags.PINNED) <= set(scalars["eval"])


def _figures_written(run, images):
    for name in ("tsne", "central_latent_space"):
        with Image.open(run / "figures" / f"{name}.png") as figure:
            assert figure.size == (1000, 1000)
    projector = run / "logs" / "figures"
    config = (projector / "projector_config.pbtxt").read_text()
    assert f'tensor_name: "test_embeddings_step_{STEPS}/' in config
    assert "metadata.tsv" in config and "sprite.png" in config
    rows = (projector / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "label\tclass" and len(rows) == images + 1
    assert {row.split("\t")[1] for row in rows[1:]} <= TEST_CHARACTERS
    events = [e for f in projector.glob("events.out.tfevents.*")
              for e in tf.compat.v1.train.summary_iterator(str(f))]
    steps = {v.tag: e.step for e in events for v in e.summary.value}
    assert steps == {"4_figures/tsne": STEPS, "4_figures/central_latent_space": STEPS,
                     "4_figures/retrieval": STEPS}


def test_the_phase_switch_is_a_step_in_tensorboard_not_a_ramp(trained_run):
    base, _ = trained_run
    points = sorted((e.step, tf.make_ndarray(v.tensor).item())
                    for f in (base / "run" / "logs" / "train").glob("events.out.tfevents.*")
                    for e in tf.compat.v1.train.summary_iterator(str(f))
                    for v in e.summary.value if v.tag == "2_training/phase")
    # Every 25 steps, and at the last step of phase 1 (150) and the first of phase 2.
    assert [step for step, _ in points] == sorted(set(range(25, STEPS + 1, 25)) | {151})
    assert dict(points)[150] == 1 and dict(points)[151] == 2


def test_the_final_evaluation_draws_the_figures_from_all_its_embeddings(trained_run):
    base, result = trained_run
    run = base / "run"
    _figures_written(run, 1500)
    stored = np.load(run / "figures" / "test_embeddings.npz")
    assert int(stored["step"]) == STEPS and stored["embeddings"].shape == (3280, 128)
    assert f"figures: {run / 'figures'}" in result.stdout


def test_visualize_redraws_from_the_kept_embeddings_without_the_model(trained_run, tmp_path):
    base, _ = trained_run
    run = tmp_path / "run"
    shutil.copytree(base / "run", run)
    for data in (run / "checkpoints").glob("ckpt-*.data-*"):
        data.write_bytes(b"")  # were the model read, this would fail
    result = subprocess.run([sys.executable, "-m", "dvml_tf.cli.visualize", f"--model_dir={run}",
                             "--max_images=300"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [line for line in result.stderr.splitlines() if not line[:2].isdigit()]
    _figures_written(run, 300)
