"""DVML against its baseline on the bundled glyphs, the default run's own settings.

    .venv/bin/python benchmarks/glyphs.py all      # every missing run, then the report
    .venv/bin/python benchmarks/glyphs.py report   # docs/GLYPHS_RESULTS.md

Each run is `python -m dvml_tf.main` with the defaults (margin + DWS, small CNN at 32 px,
1,000 steps, DVML phase 2 from step 500) but --seed and, for the baseline, --nodvml; it
evaluates its untrained network first. Results: benchmarks/results/glyphs/<method>_s<seed>/
(metrics.json, diagnostics.json, run_info.json), resumable like benchmarks/quality.py.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from quality import _timed, diagnostics_table, differences, table  # noqa: E402

RESULTS = os.path.join(ROOT, "benchmarks", "results", "glyphs")
METHODS = {"margin_dws": ["--nodvml"], "dvml_margin_dws": ["--dvml"]}
SEEDS = (0, 1, 2)


def run_dir(method, seed):
    return os.path.join(RESULTS, f"{method}_s{seed}")


def run(method, seed):
    folder = run_dir(method, seed)
    seconds = _timed([sys.executable, "-m", "dvml_tf.main", *METHODS[method], f"--seed={seed}",
                      f"--model_dir={folder}", "--export_dir=", "--eval_bootstrap=1000"], folder)
    print(f"glyphs {method} seed {seed}: {seconds / 60:.1f} min")


def collect():
    results = {}
    for method in METHODS:
        for seed in SEEDS:
            path = os.path.join(run_dir(method, seed), "metrics.json")
            if os.path.exists(path):
                diagnostics = os.path.join(run_dir(method, seed), "diagnostics.json")
                results.setdefault(method, []).append(
                    {**json.load(open(path)), "seed": seed,
                     "diagnostics": json.load(open(diagnostics))})
    return results


def report():
    results = collect()
    if not results:
        sys.exit("error: no finished runs under benchmarks/results/glyphs")
    untrained = {m: 100 * np.array([r["untrained"]["recall@1"] for r in runs])
                 for m, runs in results.items()}
    seconds = [json.load(open(os.path.join(run_dir(m, r["seed"]), "run_info.json")))["seconds"]
               for m, runs in results.items() for r in runs]
    text = "\n\n".join([
        table(results),
        "Untrained Recall@1 (%, same runs, before their first step): " + ", ".join(
            f"{m} {v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f}"
            for m, v in untrained.items()),
        differences(results, [("dvml_margin_dws", "margin_dws")]),
        "Diagnostics (seed 0, test set):", diagnostics_table(results)])
    with open(os.path.join(ROOT, "docs", "GLYPHS_RESULTS.md"), "w") as f:
        f.write("# DVML against its baseline on the bundled glyphs\n\n"
                "Written by `benchmarks/glyphs.py report`. 164 characters, 40 images each, "
                "82 train and 82 test\nclasses (zero-shot); the default run's settings, "
                "seeds 0-2. Values in %, mean ± sd over seeds;\nthe CI column is the mean "
                "half-width of each run's 95 % bootstrap interval. Wall time per run:\n"
                f"{np.mean(seconds) / 60:.1f} min on average on 2 CPU cores "
                "(with other benchmarks sharing them).\n\n" + text + "\n")
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("all", "report"))
    if parser.parse_args().action == "all":
        for seed in SEEDS:
            for method in METHODS:
                if not os.path.exists(os.path.join(run_dir(method, seed), "metrics.json")):
                    run(method, seed)
    report()


if __name__ == "__main__":
    main()
