"""tf.distribute: 2 mirrored replicas equal 1 replica; mirrored and multi-worker training run."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from commands import ROOT, main_command, run_main

pytestmark = pytest.mark.slow
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("metric_loss", ["triplet_hard", "npairs", "margin_dws",
                                         "proxy_anchor", "multi_similarity+xbm"])
def test_two_replicas_equal_one_on_the_same_global_batch(metric_loss):
    result = subprocess.run([sys.executable, os.path.join(HERE, "replica_equivalence.py"),
                             ROOT, metric_loss], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert (runs["one"]["replicas"], runs["two"]["replicas"]) == (1, 2)
    for name in ("loss", "kl_loss", "reconstruction_loss", "synthesized_metric_loss",
                 "metric_loss"):
        assert runs["two"]["logs"][name] == pytest.approx(runs["one"]["logs"][name], rel=1e-4)
    assert runs["one"]["logs"]["metric_loss"] > 0
    for one, two in zip(runs["one"]["weights"], runs["two"]["weights"]):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
    # A cross-batch memory holds the global batches, alike on every replica.
    assert len(runs["one"]["memory"]) == (4 if metric_loss.endswith("xbm") else 0)
    if runs["one"]["memory"]:
        assert runs["one"]["memory"][2] == [24]  # rows written: 3 global batches of 8
    for one, two in zip(runs["one"]["memory"], runs["two"]["memory"]):
        for replica in two:
            np.testing.assert_allclose(replica, one[0], rtol=1e-4, atol=1e-5)


DIGITS = ["--dataset=digits", "--classes_per_batch=4", "--images_per_class=8",
          "--train_steps=20", "--checkpoint_every=10", "--export_dir=", "--nofigures"]


def test_mirrored_cli_trains_on_two_cpu_devices(tmp_path):
    result = run_main(*DIGITS, f"--model_dir={tmp_path}", "--strategy=mirrored",
                      "--cpu_devices=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 2 replica(s) with --strategy=mirrored" in result.stderr
    assert json.load(open(tmp_path / "metrics.json"))["step"] == 20
    # Every step was applied, and the second ten moved the weights again.
    readers = [tf.train.load_checkpoint(str(tmp_path / "checkpoints" / f"ckpt-{step}"))
               for step in (10, 20)]
    assert readers[1].get_tensor("model/skipped_steps/.ATTRIBUTES/VARIABLE_VALUE") == 0
    # Keras 3 checkpoints the trainable weights through the optimizer's list of them.
    kernels = [name for name, shape in readers[0].get_variable_to_shape_map().items()
               if name.startswith("optimizer/_trainable_variables/") and len(shape) >= 2]
    assert kernels and all(
        not np.array_equal(readers[0].get_tensor(name), readers[1].get_tensor(name))
        for name in kernels)


def test_replicas_must_split_the_classes(tmp_path):
    result = run_main(*DIGITS, f"--model_dir={tmp_path}", "--strategy=mirrored",
                      "--cpu_devices=3", "--classes_per_batch=4")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --classes_per_batch=4 must divide evenly among the 3 replicas")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_trains_with_two_processes(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    # Each worker is given a --model_dir of its own: the chief's must hold the run, the
    # other worker's must stay unwritten.
    model_dirs = [tmp_path / "run", tmp_path / "worker1"]
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            main_command(*DIGITS, f"--model_dir={model_dirs[index]}",
                         "--strategy=multi_worker", "--mode=train"),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=400) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    checkpoints = sorted(os.listdir(tmp_path / "run" / "checkpoints"))
    assert "ckpt-20.index" in checkpoints
    for _, stderr in outputs:
        assert "training on 2 replica(s) with --strategy=multi_worker" in stderr
    # Only the chief (worker 0) writes the run's outputs.
    assert (tmp_path / "run" / "logs" / "train").is_dir()
    assert (tmp_path / "run" / "run_config.json").is_file()
    assert not (tmp_path / "worker1").exists()
