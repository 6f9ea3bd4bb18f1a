"""Table 4's KS diagnostics at Stanford Online Products scale: the exact p-values through
the package's vectorised Durbin matrix (dvml_tf/evaluation/kolmogorov.py) against
scipy's kstwo.sf on the same statistics (what ks_p_values called before), in one sitting.

    .venv/bin/python benchmarks/ks_diagnostics.py [--images=60502 --classes=11316 --dim=512]

Synthetic embeddings shaped like SOP's test set (benchmarks/evaluation.py's: 2 to 12
images per class). Prints both wall times, their ratio and the largest difference of the
per-class mean p-values; writes benchmarks/results/ks_diagnostics.json (full size only).
"""
import argparse
import json
import os
import sys
import time
from unittest import mock

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from evaluation import synthetic_embeddings  # noqa: E402

from dvml_tf.evaluation import diagnostics  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60502)
    parser.add_argument("--classes", type=int, default=11316)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    embeddings, labels = synthetic_embeddings(args.images, args.classes, args.dim)
    started = time.perf_counter()
    ours = diagnostics.ks_p_values(embeddings, labels)
    seconds = time.perf_counter() - started
    with mock.patch.object(diagnostics, "ks_sf", lambda d, n: stats.kstwo.sf(d, n)):
        started = time.perf_counter()
        theirs = diagnostics.ks_p_values(embeddings, labels)
        scipy_seconds = time.perf_counter() - started
    difference = float(np.abs(ours - theirs).max())
    result = {"images": args.images, "classes": args.classes, "dim": args.dim,
              "statistics": int(args.classes * args.dim), "seconds": round(seconds, 2),
              "scipy_kstwo_seconds": round(scipy_seconds, 2),
              "speedup": round(scipy_seconds / seconds, 1),
              "max_abs_difference": difference}
    print(f"ks_p_values of {args.images:,} x {args.dim} embeddings, {args.classes:,} classes: "
          f"{seconds:.1f} s; with scipy's kstwo.sf: {scipy_seconds:.1f} s "
          f"({result['speedup']}x); largest difference {difference:.1e}")
    if (args.images, args.classes, args.dim) == (60502, 11316, 512):
        with open(os.path.join(HERE, "results", "ks_diagnostics.json"), "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
