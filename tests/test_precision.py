"""Mixed precision trains with float32 variables and losses (tiny run: 16-bit is slow on CPU)."""
import re

import numpy as np
import pytest
import tensorflow as tf
from cli import run_main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains(tmp_path, policy):
    result = run_main("--flagfile=flags/digits.cfg", "--image_size=16", "--resize_size=16",
                      "--train_steps=3", "--checkpoint_every=3", f"--model_dir={tmp_path}",
                      "--mode=train", f"--mixed_precision={policy}")
    assert result.returncode == 0, result.stderr[-3000:]
    losses = re.findall(r" - loss: ([0-9.e+-]+|nan|inf)", result.stdout + result.stderr)
    assert losses and all(np.isfinite(float(v)) for v in losses)
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "ckpt-3"))
    dtypes = reader.get_variable_to_dtype_map()
    kernels = [name for name in dtypes if name.startswith("model/") and "kernel" in name]
    assert kernels and all(dtypes[name] == tf.float32 for name in kernels)
