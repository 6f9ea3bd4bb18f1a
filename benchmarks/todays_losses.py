"""Train-step time of today's losses against margin + DWS, and the cross-batch memory's size.

    .venv/bin/python benchmarks/todays_losses.py [--rounds=5 --steps=10]

The step: benchmarks/quality.py's network and batch (small CNN at 48 px, 15 classes x 4
images, 128-d, one proxy per each of 98 training classes), with and without DVML, on a
fixed batch (no input pipeline). Each round times every loss in turn, so that all share
the machine's state; a loss's step time is the median over rounds of each round's median,
and its ratio is against margin + DWS's in the same run. XBM runs with its memory full.
XBM's memory at --memory_size x 128: the bytes of its variables, and the resident memory
(now and at its peak) of a fresh process after 10 training steps with it, against one
without.
Prints JSON; writes benchmarks/results/todays_losses.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULT = os.path.join(ROOT, "benchmarks", "results", "todays_losses.json")
CLASSES, PER_CLASS, IMAGE_SIZE, PROXIES = 15, 4, 48, 98
LOSSES = {
    "margin_dws": ["--metric_loss=margin_dws"],
    "multi_similarity": ["--metric_loss=multi_similarity"],
    "proxy_anchor": ["--metric_loss=proxy_anchor", f"--num_proxies={PROXIES}"],
    "xbm_multi_similarity": ["--metric_loss=multi_similarity", "--cross_batch_memory={memory}"],
}


def build(loss, dvml, memory_size):
    """A compiled model of `loss`, its train function and a batch iterator."""
    import tensorflow as tf

    from dvml_tf.cli.settings import parse_config
    from dvml_tf.training.build import build_model

    flags = [flag.format(memory=memory_size) for flag in LOSSES[loss]]
    config = parse_config([
        "--dataset=digits", "--backbone=small_cnn", f"--image_size={IMAGE_SIZE}",
        f"--resize_size={IMAGE_SIZE}", f"--classes_per_batch={CLASSES}",
        f"--images_per_class={PER_CLASS}", "--embedding_dim=128", "--train_steps=1000",
        "--phase1_steps=0", "--dvml" if dvml else "--nodvml", *flags])
    model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (CLASSES * PER_CLASS, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("f4")
    labels = np.repeat(rng.permutation(PROXIES)[:CLASSES], PER_CLASS).astype("i4")
    data = iter(tf.data.Dataset.from_tensors((images, labels)).repeat())
    step = model.make_train_function() or model.train_function  # Keras 3 returns None
    memory = model.metric_loss.memory
    if memory is not None:  # full, of other batches' labels
        memory.embeddings.assign(rng.normal(size=memory.embeddings.shape).astype("f4"))
        memory.labels.assign(rng.integers(0, PROXIES, memory.size).astype("i4"))
        memory.written.assign(memory.size)
    for _ in range(2):  # tracing and warm-up
        float(step(data)["loss"])
    return model, step, data


def step_times(args):
    """{dvml|baseline: {loss: median seconds per step}}."""
    results = {}
    for dvml in (False, True):
        built = {loss: build(loss, dvml, args.memory_size) for loss in LOSSES}
        rounds = {loss: [] for loss in LOSSES}
        for _ in range(args.rounds):
            for loss, (_, step, data) in built.items():
                times = []
                for _ in range(args.steps):
                    start = time.perf_counter()
                    float(step(data)["loss"])
                    times.append(time.perf_counter() - start)
                rounds[loss].append(float(np.median(times)))
        results["dvml" if dvml else "baseline"] = {
            loss: float(np.median(values)) for loss, values in rounds.items()}
    return results


def memory_variables_bytes(memory_size):
    """The bytes of the memory's variables in a built layer."""
    from dvml_tf.models.metric_loss_layer import MetricLossLayer

    layer = MetricLossLayer("multi_similarity", embedding_dim=128,
                            cross_batch_memory=memory_size)
    memory = layer.memory
    return int(sum(v.numpy().nbytes for v in (memory.embeddings, memory.labels,
                                               memory.written)))


def resident_mib(memory_size):
    """{"now", "peak"}: resident memory (MiB) of a fresh process after 10 DVML training
    steps with an XBM memory of `memory_size` (0: multi_similarity without a memory)."""
    output = subprocess.run([sys.executable, os.path.abspath(__file__),
                             f"--probe={memory_size}"], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def probe(memory_size):
    loss = "xbm_multi_similarity" if memory_size else "multi_similarity"
    _, step, data = build(loss, True, memory_size)
    for _ in range(10):
        float(step(data)["loss"])
    # VmHWM, not getrusage's ru_maxrss, which a child inherits from its parent's peak.
    with open("/proc/self/status") as f:
        kib = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS", "VmHWM")))
    print(json.dumps({"now": round(int(kib["VmRSS"].split()[0]) / 1024, 1),
                      "peak": round(int(kib["VmHWM"].split()[0]) / 1024, 1)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--memory_size", type=int, default=4096)
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        probe(args.probe)
        return
    times = step_times(args)
    result = {
        "setting": f"small_cnn {IMAGE_SIZE} px, batch {CLASSES} x {PER_CLASS}, 128-d, "
                   f"XBM memory {args.memory_size} (full); median of {args.rounds} rounds "
                   f"x {args.steps} steps",
        "seconds_per_step": times,
        "ratio_to_margin_dws": {
            mode: {loss: round(t / losses["margin_dws"], 3) for loss, t in losses.items()}
            for mode, losses in times.items()},
        "xbm_memory_variables_bytes": memory_variables_bytes(args.memory_size),
        "resident_mib_after_10_steps": {
            "multi_similarity": resident_mib(0),
            f"xbm_{args.memory_size}": resident_mib(args.memory_size)},
    }
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
