"""Training-step throughput: DVML against the plain baseline, and XLA on against off.

    .venv/bin/python benchmarks/train_step.py [--backbone=googlenet --image_size=224
        --classes_per_batch=8 --images_per_class=4 --steps=5] [--mixed_precision=...]

Every variant trains the same backbone on the same fixed batch (no input pipeline, so
only the step is timed), after two warm-up steps; images/s are medians over --steps.
DVML adds the mu/log sigma^2 heads, T = 20 reparameterised samples, the decoder and
two more losses; the issue's target is at most 15% over the baseline step.

With --other_python=PATH (another stack's interpreter, e.g. .venv-reference/bin/python)
the same measurement also runs there, one after the other, and each rate's ratio between
the two stacks is printed.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from timing import median_seconds

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_config(args, dvml, jit):
    from dvml_tf.cli.settings import parse_config

    return parse_config([
        "--dataset=digits", f"--backbone={args.backbone}",
        f"--image_size={args.image_size}", f"--resize_size={args.image_size}",
        f"--classes_per_batch={args.classes_per_batch}",
        f"--images_per_class={args.images_per_class}", f"--metric_loss={args.metric_loss}",
        "--embedding_dim=512", "--num_samples=20", "--train_steps=1000",
        "--phase1_steps=0", f"--mixed_precision={args.mixed_precision}",
        "--dvml" if dvml else "--nodvml", "--jit_compile" if jit else "--nojit_compile"])


def images_per_second(args, dvml, jit):
    import tensorflow as tf

    from dvml_tf.training.build import build_model

    config = make_config(args, dvml, jit)
    model = build_model(config)
    batch = args.classes_per_batch * args.images_per_class
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch, args.image_size, args.image_size, 3)).astype("f4")
    labels = np.repeat(np.arange(args.classes_per_batch), args.images_per_class).astype("i4")
    data = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    step = model.make_train_function() or model.train_function  # Keras 3 returns None
    return batch / median_seconds(lambda: float(step(data)["loss"]), args.steps, warmups=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="googlenet")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--classes_per_batch", type=int, default=8)
    parser.add_argument("--images_per_class", type=int, default=4)
    parser.add_argument("--metric_loss", default="triplet_semihard")
    parser.add_argument("--mixed_precision", default="none")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--jit", choices=("both", "off", "on"), default="both")
    parser.add_argument("--other_python", help="Another stack's Python: measure there too.")
    args = parser.parse_args()
    rates = measure(args)
    if args.other_python:
        compare_stacks(args, rates)


def tensorflow_stack():
    import tensorflow as tf

    from dvml_tf.losses.backend import tfa_losses

    losses = "TF-Addons" if tfa_losses() is not None else "own losses"
    return f"Python {sys.version.split()[0]}, TensorFlow {tf.__version__}, {losses}"


def compare_stacks(args, rates):
    """Runs this script under --other_python with the same settings; prints the ratios."""
    argv = [a for a in sys.argv[1:] if not a.startswith("--other_python")]
    result = subprocess.run([args.other_python, os.path.abspath(__file__), *argv],
                            capture_output=True, text=True, check=True)
    print(result.stdout, end="")
    other = json.loads(result.stdout.strip().splitlines()[-1].split("RATES ", 1)[1])
    print(f"this stack / other stack, images/s ({tensorflow_stack()} against "
          f"{other['stack']}):")
    for key, rate in rates.items():
        if key in other["rates"]:
            print(f"  {key}: x{rate / other['rates'][key]:.2f}")


def measure(args):
    jit_settings = {"both": (False, True), "off": (False,), "on": (True,)}[args.jit]
    rates = {}
    for dvml in (False, True):
        for jit in jit_settings:
            try:
                rates[dvml, jit] = images_per_second(args, dvml, jit)
            except Exception as error:  # report what XLA cannot compile, keep measuring
                print(f"dvml={dvml} jit={jit}: failed ({type(error).__name__}: "
                      f"{str(error).splitlines()[0][:160]})")
    batch = args.classes_per_batch * args.images_per_class
    print(f"{tensorflow_stack()}: {args.backbone} at {args.image_size} px, batch {batch}, "
          f"{args.metric_loss}, {args.mixed_precision} precision, {os.cpu_count()} CPU cores")
    for (dvml, jit), rate in rates.items():
        print(f"  {'DVML' if dvml else 'baseline':8s} jit={'on ' if jit else 'off'}: "
              f"{rate:7.1f} images/s")
    for jit in (False, True):
        if (False, jit) in rates and (True, jit) in rates:
            print(f"DVML step time / baseline step time (jit {'on' if jit else 'off'}): "
                  f"{rates[False, jit] / rates[True, jit]:.3f}")
    for dvml in (False, True):
        if (dvml, False) in rates and (dvml, True) in rates:
            print(f"jit on / jit off speed-up ({'DVML' if dvml else 'baseline'}): "
                  f"x{rates[dvml, True] / rates[dvml, False]:.2f}")
    named = {f"{'DVML' if dvml else 'baseline'} jit {'on' if jit else 'off'}": rate
             for (dvml, jit), rate in rates.items()}
    print("RATES " + json.dumps({"stack": tensorflow_stack(), "rates": named}))
    return named


if __name__ == "__main__":
    main()
