"""A run killed with SIGKILL and rerun resumes from its latest checkpoint and ends exactly
where an uninterrupted run ends."""
import json
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from commands import ROOT, main_command, run_main

pytestmark = pytest.mark.slow

FLAGS = ["--dataset=digits", "--image_size=16", "--resize_size=18",
         "--classes_per_batch=4", "--images_per_class=4", "--train_steps=60",
         "--phase1_steps=30", "--checkpoint_every=10", "--eval_every=30", "--seed=3",
         "--deterministic", "--export_dir=", "--nofigures"]


def _final_weights(model_dir):
    path = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert path.endswith("ckpt-60")
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/") or "optimizer" in name}


def test_killed_and_resumed_run_matches_uninterrupted_run(tmp_path):
    whole = run_main(*FLAGS, f"--model_dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen(main_command(*FLAGS, f"--model_dir={killed_dir}"), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (killed_dir / "checkpoints" / "ckpt-30.index").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    latest = tf.train.latest_checkpoint(str(killed_dir / "checkpoints"))
    assert latest and not latest.endswith("ckpt-60"), "the kill came too late to test resume"

    resumed = run_main(*FLAGS, f"--model_dir={killed_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    step = int(latest.rsplit("-", 1)[1])
    assert f"resumed from {latest} at step {step}" in resumed.stderr
    # The periodic evaluation at the last step is the final one, not repeated.
    assert resumed.stdout.count("step 60: Recall@1 ") == 1
    events = [e for f in (killed_dir / "logs" / "eval").glob("events.out.tfevents.*")
              for e in tf.compat.v1.train.summary_iterator(str(f))]
    assert [e.step for e in events for v in e.summary.value if v.tag == "3_eval/recall@1"
            ].count(60) == 1

    expected, actual = _final_weights(tmp_path / "whole"), _final_weights(killed_dir)
    assert expected.keys() == actual.keys() and len(expected) > 10
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    metrics = [json.load(open(d / "metrics.json")) for d in (tmp_path / "whole", killed_dir)]
    assert metrics[0]["step"] == metrics[1]["step"] == 60
    for key in ("recall@1", "recall@8", "map@r", "nmi", "f1"):
        assert metrics[1][key] == pytest.approx(metrics[0][key], abs=1e-6)


def test_ctrl_c_saves_the_finished_step_and_the_rerun_resumes_from_it(tmp_path):
    model_dir = tmp_path / "interrupted"
    # Far more steps than the test waits for: the interrupt lands while training runs,
    # however late this process reads the progress lines.
    long_run = [*FLAGS, "--train_steps=100000", "--checkpoint_every=1000", "--eval_every=0",
                "--summary_every=5", "--eval_untrained=false", f"--model_dir={model_dir}"]
    process = subprocess.Popen(main_command(*long_run), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if " step 15/100000" in line:  # progress lines come every --summary_every steps
                process.send_signal(signal.SIGINT)
                break
        rest = process.communicate(timeout=120)[1]
    finally:
        process.kill()  # a run the interrupt did not stop ends with the test
    assert process.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert latest, rest
    step = int(latest.rsplit("-", 1)[1])
    assert 15 <= step < 1000  # saved at the interrupt, not by --checkpoint_every
    assert rest.strip().splitlines()[-1] == (
        f"interrupted at step {step}: saved {latest}; run the same command again to resume "
        "from it")
    resumed = run_main(*long_run[:-6], f"--train_steps={step + 3}", "--eval_every=0",
                       f"--model_dir={model_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {latest} at step {step}" in resumed.stderr
    assert tf.train.latest_checkpoint(str(model_dir / "checkpoints")).endswith(f"-{step + 3}")
