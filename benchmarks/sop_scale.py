"""Stanford Online Products at its full size, offline, end to end.

    .venv/bin/python benchmarks/sop_scale.py [--work=/tmp/sop_scale] [--train_steps=20]
        [--scale=1.0]   # a fraction of SOP's counts, to try the script quickly

1. Writes `Stanford_Online_Products.zip` in the upstream format with SOP's real counts
   (22,634 classes; Ebay_train.txt: 11,318 classes, 59,551 images; Ebay_test.txt: 11,316
   classes, 60,502 images): small synthetic JPEGs, a colour per class under per-image noise
   (the metrics say how a few steps separate 11,316 colours, not how SOP is learnt).
   Kept in --work and reused by a later run.
2. Prepares it through TFDS's real `stanford_online_products` builder (the download
   answered from that file, as the tests do) and writes the image files dvml_tf trains
   from, with --keep_downloads=false.
3. Prepares the same zip through the package's own reader (the route when the host is
   gone), in a second data folder.
4. Trains a few steps of the small CNN, evaluates all 60,502 test images (Recall@1, 10,
   100, 1000, MAP@R, NMI, F1), and exports a SavedModel.

Prints each stage's wall time, the process's peak memory so far (ru_maxrss) and the disk
each data folder takes, the final evaluation's own stages (embed, nearest neighbours,
bootstrap, clustering, diagnostics, figures: the run's 'evaluation stages' lines), and
(at full scale) writes them to benchmarks/results/sop_scale.json.
"""
import argparse
import io
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

TRAIN_CLASSES, TRAIN_IMAGES = 11318, 59551
TEST_CLASSES, TEST_IMAGES = 11316, 60502
RESULTS = os.path.join(ROOT, "benchmarks", "results", "sop_scale.json")


def class_sizes(classes, images, rng):
    """`classes` sizes of at least 2 summing to `images`."""
    sizes = np.full(classes, 2)
    np.add.at(sizes, rng.integers(0, classes, images - sizes.sum()), 1)
    return sizes


def jpeg(colour, rng):
    """A 24 x 24 picture of a class's colour under noise of its own."""
    pixels = np.clip(colour + rng.normal(0, 40, (24, 24, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_full_size_sop(path, scale=1.0):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path + ".partial", "w", zipfile.ZIP_STORED) as archive:
        next_class = 1
        for split, classes, images in (("train", TRAIN_CLASSES, TRAIN_IMAGES),
                                       ("test", TEST_CLASSES, TEST_IMAGES)):
            classes, images = round(classes * scale), round(images * scale)
            lines = ["image_id class_id super_class_id path"]
            for size in class_sizes(classes, images, rng):
                colour = rng.integers(0, 256, 3)
                for i in range(size):
                    image = f"bicycle_final/{next_class}_{i}.JPG"
                    lines.append(f"{len(lines)} {next_class} 1 {image}")
                    archive.writestr(f"Stanford_Online_Products/{image}", jpeg(colour, rng))
                next_class += 1
            archive.writestr(f"Stanford_Online_Products/Ebay_{split}.txt", "\n".join(lines) + "\n")
    os.replace(path + ".partial", path)


def disk_gib(folder):
    if not os.path.exists(folder):
        return 0.0
    used = subprocess.run(["du", "-sb", folder], capture_output=True, text=True).stdout
    return int(used.split()[0]) / 2 ** 30


def peak_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


class StageLines(logging.Filter):
    """Collects the evaluation's stage lines ('evaluation stages: embed 41.2 s (1.31 GiB),
    ...') as {stage: {seconds, peak_memory_gib}}: a filter of the root logger, which the
    run's own log handler does not replace, passing every record on."""

    PART = re.compile(r"(?:^|, )(.+?) (\d+\.\d) s \((\d+\.\d\d) GiB\)")

    def __init__(self):
        super().__init__()
        self.stages = {}

    def filter(self, record):
        message = record.getMessage()
        if message.startswith("evaluation stages: "):
            for name, seconds, peak in self.PART.findall(message[len("evaluation stages: "):]):
                self.stages[name] = dict(seconds=float(seconds), peak_memory_gib=float(peak))
        return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/sop_scale")
    parser.add_argument("--train_steps", type=int, default=20)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import upstream_datasets

    from dvml_tf.cli.settings import parse_config
    from dvml_tf.data.tfds_datasets import load_tfds_splits
    from dvml_tf.training.run import run_modes

    os.makedirs(args.work, exist_ok=True)
    results = {"train_steps": args.train_steps, "scale": args.scale, "stages": {}}

    def stage(name, function, **extra):
        started = time.monotonic()
        value = function()
        results["stages"][name] = dict(seconds=round(time.monotonic() - started, 1),
                                       peak_memory_gib=round(peak_gib(), 2), **extra)
        print(f"{name}: {results['stages'][name]}", flush=True)
        return value

    archive = os.path.join(args.work, f"scale_{args.scale}", "Stanford_Online_Products.zip")
    if not os.path.exists(archive):
        os.makedirs(os.path.dirname(archive), exist_ok=True)
        stage("write the upstream zip", lambda: write_full_size_sop(archive, args.scale))
    results["zip_gib"] = round(os.path.getsize(archive) / 2 ** 30, 3)

    tfds_dir = os.path.join(args.work, "tensorflow_datasets")
    manual_dir = os.path.join(args.work, "upstream_files")
    run_dir = os.path.join(args.work, "run")
    for folder in (tfds_dir, manual_dir, run_dir, os.path.join(args.work, "export")):
        shutil.rmtree(folder, ignore_errors=True)
    files = {"Stanford_Online_Products.zip": archive}
    with upstream_datasets.offline_downloads(files):
        train, test = stage("prepare through TFDS (keep_downloads=false)",
                            lambda: load_tfds_splits("sop", tfds_dir, keep_downloads=False))
    results["stages"]["prepare through TFDS (keep_downloads=false)"].update(
        train_images=len(train), test_images=len(test), disk_gib=round(disk_gib(tfds_dir), 3))

    os.makedirs(manual_dir)
    os.symlink(archive, os.path.join(manual_dir, "Stanford_Online_Products.zip"))
    own = stage("prepare through dvml_tf's reader", lambda: load_tfds_splits("sop", manual_dir))
    results["stages"]["prepare through dvml_tf's reader"].update(
        train_images=len(own[0]), test_images=len(own[1]),
        disk_gib=round(disk_gib(manual_dir), 3))

    flags = ["--dataset=sop", f"--data_dir={tfds_dir}", f"--model_dir={run_dir}",
             "--backbone=small_cnn", "--image_size=32", "--resize_size=36",
             f"--train_steps={args.train_steps}", f"--checkpoint_every={args.train_steps}",
             "--classes_per_batch=32", "--images_per_class=2", "--eval_every=0",
             "--eval_untrained=false", "--eval_batch_size=512",
             f"--export_dir={os.path.join(args.work, 'export')}"]
    if args.scale < 1:  # SOP's Recall@1000 needs more than a small fraction's gallery
        flags.append("--recall_k=1,10,100")
    stage(f"train {args.train_steps} steps", lambda: run_modes(parse_config(
        [*flags, "--mode=train"])))
    breakdown = StageLines()
    logging.getLogger().setLevel(logging.INFO)  # the stage lines are INFO records
    logging.getLogger().addFilter(breakdown)
    metrics = stage("evaluate all test images", lambda: run_modes(parse_config(
        [*flags, "--mode=eval"])))
    logging.getLogger().removeFilter(breakdown)
    results["stages"]["evaluate all test images"]["breakdown"] = breakdown.stages
    for name, values in breakdown.stages.items():
        print(f"  {name}: {values}", flush=True)
    results["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    stage("export", lambda: run_modes(parse_config([*flags, "--mode=export"])))
    results["total_seconds"] = round(sum(s["seconds"] for s in results["stages"].values()), 1)
    results["peak_memory_gib"] = round(peak_gib(), 2)
    if args.scale == 1.0:
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
