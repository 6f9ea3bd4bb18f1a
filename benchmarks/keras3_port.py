"""The Keras 3 port against the release before it (dvml_tf 0.1 on tf-keras), same machine,
one after the other: the glyph demo's training step, the whole demo's wall time and its
Recall@1, and the installed size of each side's .venv.

    .venv/bin/python benchmarks/keras3_port.py --before=PATH [--step_repeats=50]

PATH is a checkout of the release before the port with its own .venv (`git worktree add
PATH ad540bf && make -C PATH install`). Each side runs its own code in its own environment.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The demo's settings (glyphs: small CNN at 32 px, 16 x 4 batches, margin + DWS, DVML),
# one fixed batch, so that only the step is timed; prints the median seconds per step.
STEP_PROGRAM = """
import os, sys, time, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
sys.path.insert(0, os.getcwd())
import dvml_tf
import tensorflow as tf
from dvml_tf.cli.settings import parse_config
try:
    from dvml_tf.training.build import build_model
except ImportError:
    from dvml_tf.models.build import build_model
model = build_model(parse_config(["--phase1_steps=0"]))
rng = np.random.default_rng(0)
images = rng.uniform(0, 255, (64, 32, 32, 3)).astype("f4")
labels = np.repeat(np.arange(16), 4).astype("i4")
data = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
step = model.make_train_function() or model.train_function
for _ in range(3):
    step(data)
times = []
for _ in range(int(sys.argv[1])):
    start = time.perf_counter()
    float(step(data)["loss"])
    times.append(time.perf_counter() - start)
print("STEP", json.dumps(float(np.median(times))))
"""


def venv_size(root):
    total = 0
    for folder, _, names in os.walk(os.path.join(root, ".venv")):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def measure(root, repeats):
    python = os.path.join(root, ".venv", "bin", "python")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    step = subprocess.run([python, "-c", STEP_PROGRAM, str(repeats)], cwd=root, env=env,
                          capture_output=True, text=True, check=True)
    seconds_per_step = json.loads(step.stdout.split("STEP ", 1)[1])
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        subprocess.run([python, "-m", "dvml_tf.main", f"--model_dir={scratch}/run",
                        f"--export_dir={scratch}/export"], cwd=root, env=env,
                       capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
        with open(os.path.join(scratch, "run", "metrics.json")) as f:
            recall = json.load(f)["recall@1"]
    return {"step_s": seconds_per_step, "demo_s": wall, "recall@1": recall,
            "venv_bytes": venv_size(root)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a checkout of dvml_tf 0.1 with .venv")
    parser.add_argument("--step_repeats", type=int, default=50)
    args = parser.parse_args()
    results = {}
    for side, root in (("before (0.1, tf-keras)", args.before), ("after (Keras 3)", HERE)):
        results[side] = measure(os.path.abspath(root), args.step_repeats)
        r = results[side]
        print(f"{side:24s} step {1000 * r['step_s']:.1f} ms  demo {r['demo_s']:.0f} s  "
              f"Recall@1 {r['recall@1']:.3f}  .venv {r['venv_bytes'] / 2**30:.2f} GiB",
              flush=True)
    before, after = results.values()
    print(f"after / before: step speed x{before['step_s'] / after['step_s']:.2f}, "
          f"demo speed x{before['demo_s'] / after['demo_s']:.2f}, "
          f".venv size x{after['venv_bytes'] / before['venv_bytes']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
