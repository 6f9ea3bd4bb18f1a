"""What the feature cache saves at 224 px: a frozen EfficientNet-Lite0 (ImageNet weights) with
margin + DWS, with and without DVML, on the real Cars196 copy, training steps reading images
(decode, resize, flip, the backbone's forward pass) against steps reading the cached
features, and the same for --fine_tune_from=_blocks__15___expand_conv (the last block and
head train).

    .venv/bin/python benchmarks/feature_cache.py [--steps=20] [--images=960]

Each variant: model.fit's own train function on its real input pipeline, two warm-up steps,
then the median of --steps steps. The cache's one-time cost (the frozen part over each
image and its mirror) is timed on --images training images and scaled to the 8,054 of the
split, to give what a 1,000-step run costs each way. Results: benchmarks/results/
feature_cache.json.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
from timing import median_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DATA = os.path.join(ROOT, "..", "shared", "data", "cars196")
FLAGS = ["--dataset=folder", f"--data_dir={DATA}", "--backbone=efficientnet_lite0",
         "--backbone_weights=imagenet", "--image_size=224", "--resize_size=224",
         "--random_flip", "--embedding_dim=512", "--classes_per_batch=15",
         "--images_per_class=4", "--metric_loss=margin_dws", "--phase1_steps=0",
         "--train_steps=1000", "--model_dir=/tmp/unused"]
REGIMES = {"frozen": ["--freeze_backbone"],
           "fine_tuned": ["--fine_tune_from=_blocks__15___expand_conv"]}


def median_step_seconds(model, dataset, steps):
    step = model.make_train_function() or model.train_function  # Keras 3 returns None
    iterator = iter(dataset)
    return median_seconds(lambda: float(step(iterator)["loss"]), steps, warmups=2)


def measure(regime, dvml, args, train_split):
    from dvml_tf.cli.settings import parse_config
    from dvml_tf.data import pipeline, sampling
    from dvml_tf.models.backbone_split import split_backbone
    from dvml_tf.training import feature_cache
    from dvml_tf.training.build import build_model

    config = parse_config(FLAGS + REGIMES[regime] + ["--dvml" if dvml else "--nodvml"])
    table = sampling.class_table_for_batches(train_split.labels, 15, 4)
    model = build_model(config)
    images = pipeline.train_dataset(train_split, table, config.image_sizes(training=True), 15,
                                    4, config.training.seed)
    uncached = median_step_seconds(model, images, args.steps)
    frozen = (split_backbone(model.backbone, config.model.fine_tune_from).below
              if config.model.fine_tune_from else model.backbone)
    sample = train_split.subset(np.arange(args.images))
    start = time.perf_counter()
    features = feature_cache.compute_features(frozen, sample, config.image_sizes(False), 2, 128)
    per_image = (time.perf_counter() - start) / args.images
    # Every image's features stand in for the split's: the timing needs their shape only.
    everything = features[np.arange(len(train_split)) % args.images]
    model = build_model(config)
    cached = median_step_seconds(
        model, feature_cache.train_dataset(everything, train_split, table, config, 0),
        args.steps)
    build = per_image * len(train_split)
    return {"uncached_step_s": uncached, "cached_step_s": cached,
            "step_speedup": uncached / cached, "cache_build_s": build,
            "run_1000_steps_uncached_s": 1000 * uncached,
            "run_1000_steps_cached_s": 1000 * cached + build,
            "run_speedup_first": 1000 * uncached / (1000 * cached + build),
            "run_speedup_cache_reused": uncached / cached}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--images", type=int, default=960)
    args = parser.parse_args()
    if not os.path.isdir(DATA):
        sys.exit(f"error: no Cars196 copy at {DATA}")
    from dvml_tf.data.datasets import load_splits

    train_split, _ = load_splits("folder", DATA, "", False)
    results = {f"{regime}{' dvml' if dvml else ''}": measure(regime, dvml, args, train_split)
               for regime in REGIMES for dvml in (False, True)}
    for name, r in results.items():
        print(f"{name}: step {r['uncached_step_s'] * 1000:.0f} ms on images, "
              f"{r['cached_step_s'] * 1000:.1f} ms cached ({r['step_speedup']:.1f}x); "
              f"cache built in {r['cache_build_s']:.0f} s; a 1,000-step run "
              f"{r['run_1000_steps_uncached_s'] / 60:.1f} min -> "
              f"{r['run_1000_steps_cached_s'] / 60:.1f} min ({r['run_speedup_first']:.1f}x; "
              f"{r['run_speedup_cache_reused']:.1f}x with the cache reused)")
    path = os.path.join(ROOT, "benchmarks", "results", "feature_cache.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
