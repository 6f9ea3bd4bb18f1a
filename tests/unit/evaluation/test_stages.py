"""An evaluation says where its time and memory go: each stage timed, in order, and
logged as one line."""
import logging
import re

import numpy as np

from dvml_tf.config import RunConfig
from dvml_tf.data.splits import ARRAY, ImageSplit
from dvml_tf.evaluation import stages
from dvml_tf.evaluation.model_evaluation import evaluate_model


def test_a_stage_is_recorded_only_inside_a_recording_and_run_twice_adds_up():
    with stages.stage("outside"):
        pass
    with stages.recording() as timed:
        for _ in range(2):
            with stages.stage("twice"):
                sum(range(200_000))
    assert list(timed) == ["twice"]
    seconds, peak = timed["twice"]
    assert seconds > 0 and peak > 0.01
    assert stages.summary({"a": (1.25, 0.5)}) == "a 1.2 s (0.50 GiB)"


def test_evaluate_model_logs_each_stage_in_order(tmp_path, caplog):
    from helpers import tiny_model

    rng = np.random.default_rng(0)
    split = ImageSplit(rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8),
                       np.repeat(np.arange(6), 4), ARRAY)
    config = RunConfig.of(image_size=16, resize_size=16, recall_k=(1, 2),
                                 eval_bootstrap=20, model_dir=str(tmp_path), dvml=True)
    with caplog.at_level(logging.INFO):
        evaluate_model(config, tiny_model(), split, step=0)
    line = next(r.getMessage() for r in caplog.records
                if r.getMessage().startswith("evaluation stages: "))
    timing = r" \d+\.\d s \(\d+\.\d\d GiB\)"
    names = ["read, decode and embed", "nearest neighbours", "bootstrap", "clustering",
             "diagnostics"]
    assert re.fullmatch("evaluation stages: " + ", ".join(n + timing for n in names), line)
