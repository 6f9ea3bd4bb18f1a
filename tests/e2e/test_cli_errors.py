"""Bad flags give a one-line error naming the flag and exit status 2, before any work."""
import os
import re
import subprocess

import pytest
from commands import ROOT, main_command

CASES = {
    "dataset": ["--dataset=imagenet"],
    "metric_loss": ["--metric_loss=arcface"],
    "backbone": ["--backbone=vgg"],
    "data_dir": ["--dataset=folder", "--data_dir=/no/such/folder"],
    "train_steps": ["--train_steps=0"],
    "synthesized_in_metric": ["--num_samples=4", "--synthesized_in_metric=5"],
    "images_per_class": ["--images_per_class=1"],
    "classes_per_batch": ["--classes_per_batch=83"],  # glyphs trains on 82 classes
    "model_name": ["--model_name=../outside"],
    "image_size": ["--image_size=7"],  # below small_cnn's minimum: found when building
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """All cases run at once (each pays for a TensorFlow import)."""
    model_dir = tmp_path_factory.mktemp("runs")
    processes = {
        flag: subprocess.Popen(main_command(*args, f"--model_dir={model_dir / flag}"), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for flag, args in CASES.items()
    }
    outputs = {flag: (p.wait(timeout=300), *p.communicate()) for flag, p in processes.items()}
    return outputs, model_dir


@pytest.mark.slow
@pytest.mark.parametrize("flag", sorted(CASES))
def test_bad_flag_is_one_line_error(results, flag):
    outputs, model_dir = results
    code, _, stderr = outputs[flag]
    lines = [line for line in stderr.splitlines() if line.strip()]
    # Errors found once the data is loaded follow the lines saying what was loaded.
    progress = [line for line in lines if re.match(r"\d\d:\d\d:\d\d (loading|[\d,]+ images)", line)]
    errors = [line for line in lines if line not in progress]
    assert code == 2
    assert len(errors) == 1, stderr
    assert errors[0].startswith("error:") and f"--{flag}" in errors[0], errors[0]
    assert not os.path.exists(model_dir / flag)  # nothing made, not even the lock's folder
