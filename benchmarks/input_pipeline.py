"""Training input pipeline throughput on the real Cars196 copy, against a naive baseline
and against the training step that consumes it.

    .venv/bin/python benchmarks/input_pipeline.py [--data_dir=../shared/data/cars196]
        [--crop=224 --resize=256 --classes_per_batch=30 --images_per_class=4]

1. dvml_tf's pipeline (tf.data: P x K sampling, parallel decode, resize, random crop
   and flip, batching, prefetch): images/s over --batches batches after a warm-up.
2. A naive sequential baseline doing the same work one image at a time in eager
   TensorFlow (read, decode, resize, crop, flip, stack).
3. The training step of the default backbone (GoogLeNet, DVML, triplet) on a batch of
   the same size: the rate at which training consumes images.
The pipeline keeps up when its rate exceeds the training step's.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pipeline_rate(split, args):
    from dvml_tf.data import pipeline, sampling

    table = sampling.build_class_table(split.labels, args.images_per_class)
    sizes = pipeline.ImageSizes(args.resize, args.crop, flip=True)
    dataset = pipeline.train_dataset(split, table, sizes, args.classes_per_batch,
                                     args.images_per_class, seed=0)
    iterator = iter(dataset)
    for _ in range(2):
        next(iterator)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)[0].numpy()
    return args.batches * args.classes_per_batch * args.images_per_class / (
        time.perf_counter() - start)


def naive_rate(split, args):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    count = args.classes_per_batch * args.images_per_class
    start = time.perf_counter()
    for _ in range(args.naive_batches):
        images = []
        for path in rng.choice(split.images, count):
            image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                                       expand_animations=False)
            image = tf.image.resize(tf.cast(image, tf.float32), [args.resize, args.resize],
                                    antialias=True)
            image = tf.image.random_crop(image, [args.crop, args.crop, 3])
            images.append(tf.image.random_flip_left_right(image))
        tf.stack(images).numpy()
    return args.naive_batches * count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "..", "shared", "data",
                                                           "cars196"))
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--resize", type=int, default=256)
    parser.add_argument("--classes_per_batch", type=int, default=30)
    parser.add_argument("--images_per_class", type=int, default=4)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--naive_batches", type=int, default=2)
    parser.add_argument("--step_batches", type=int, default=3)
    args = parser.parse_args()
    if not os.path.isdir(args.data_dir):
        sys.exit(f"error: --data_dir={args.data_dir}: no such directory (the Cars196 copy)")
    from train_step import images_per_second

    from dvml_tf.data.folder import load_folder_splits

    train, _ = load_folder_splits(args.data_dir)
    fast = pipeline_rate(train, args)
    naive = naive_rate(train, args)
    step = images_per_second(argparse.Namespace(
        backbone="googlenet", image_size=args.crop, classes_per_batch=args.classes_per_batch,
        images_per_class=args.images_per_class, metric_loss="triplet_semihard",
        mixed_precision="none", steps=args.step_batches), dvml=True, jit=False)
    batch = args.classes_per_batch * args.images_per_class
    print(f"Cars196 train split ({len(train)} images), {args.crop} px crops of "
          f"{args.resize} px resizes, batch {batch}, {os.cpu_count()} CPU cores")
    print(f"  dvml_tf pipeline:        {fast:8.1f} images/s")
    print(f"  naive sequential:        {naive:8.1f} images/s  (pipeline x{fast / naive:.1f})")
    print(f"  training step consumes:  {step:8.1f} images/s  (GoogLeNet, DVML, triplet)")
    print(f"pipeline / training step: x{fast / step:.1f} "
          f"({'keeps up' if fast > step else 'IS THE BOTTLENECK'})")


if __name__ == "__main__":
    main()
