"""Export size and CPU latency of an exported model, single image against a batch of 32.

    .venv/bin/python benchmarks/serving.py [--backbone=googlenet --image_size=224]

Trains one step on the bundled digits with the chosen backbone (so the export path is
the real one), exports it, loads the SavedModel and times its serving_default
signature on real JPEG bytes (the Cars196 copy in ../shared/data when present,
digits otherwise): median latency of one image and of a batch of 32.
"""
import argparse
import glob
import io
import os
import subprocess
import sys
import tempfile

import numpy as np
from timing import median_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARS196 = os.path.join(ROOT, "..", "shared", "data", "cars196")


def export_model(folder, backbone, image_size, resize_size):
    flags = ["--dataset=digits", f"--backbone={backbone}", f"--image_size={image_size}",
             f"--resize_size={resize_size}", f"--model_dir={folder}/run",
             f"--export_dir={folder}/export", "--train_steps=1", "--checkpoint_every=1"]
    for mode in ("train", "export"):
        subprocess.run([sys.executable, "-m", "dvml_tf.main", *flags, f"--mode={mode}"],
                       cwd=ROOT, check=True, capture_output=True)
    return os.path.join(folder, "export", "dvml_digits", "1")


def jpeg_images(count):
    paths = sorted(glob.glob(os.path.join(CARS196, "*", "*.jpg")))[:count]
    if len(paths) == count:
        return [open(p, "rb").read() for p in paths], "Cars196 128 px JPEGs"
    from PIL import Image
    from sklearn.datasets import load_digits

    images = []
    for pixels in load_digits().images[:count]:
        buffer = io.BytesIO()
        Image.fromarray((pixels * 15).astype(np.uint8)).save(buffer, format="JPEG")
        images.append(buffer.getvalue())
    return images, "digits 8 px JPEGs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="googlenet")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--resize_size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        export = export_model(folder, args.backbone, args.image_size, args.resize_size)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(export)
                   for f in fs)
        serve = tf.saved_model.load(export).signatures["serving_default"]
        images, source = jpeg_images(32)
        single = median_seconds(lambda: serve(image_bytes=tf.constant(images[:1])),
                                args.repeats)
        batch = median_seconds(lambda: serve(image_bytes=tf.constant(images)), args.repeats)
    print(f"{args.backbone} at {args.image_size} px, {source}, {os.cpu_count()} CPU cores")
    print(f"export size: {size / 2**20:.1f} MiB")
    print(f"single image: {single * 1e3:.1f} ms")
    print(f"batch of 32: {batch * 1e3:.1f} ms ({batch / 32 * 1e3:.1f} ms per image, "
          f"x{single * 32 / batch:.1f} the single-image throughput)")


if __name__ == "__main__":
    main()
