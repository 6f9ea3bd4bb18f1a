"""DVML against its baseline on the real Cars196 copy, in three regimes, same budget for both.

    .venv/bin/python benchmarks/quality.py stage1                 # the pretrained backbone
    .venv/bin/python benchmarks/quality.py run --regime=pretrained --method=dvml_npairs --seed=0
    .venv/bin/python benchmarks/quality.py all [--regime=frozen]  # every missing run, then report
    .venv/bin/python benchmarks/quality.py report                 # docs/QUALITY_RESULTS.md, plot
    .venv/bin/python benchmarks/quality.py all --sitting=quality_todays_losses  # #28's runs

Regimes (a small CNN, pretrained on the training classes only; the ImageNet backbone at
224 px is benchmarks/quality_imagenet.py's):
- scratch: the small CNN from random weights;
- pretrained: stage 1 trains the backbone on the training classes only (Proxy-NCA, no
  DVML) and saves it as a weights file (untracked: `stage1`, or the first run that needs
  it, makes it); stage 2 fine-tunes it (--backbone_weights) at
  the paper's learning rate, 1e-4;
- frozen: the stage-1 backbone with --freeze_backbone; only the heads, the decoder and
  the loss's own variables train (at 1e-3: they start from random weights).
No test class is seen in any stage. Methods: triplet, npairs, margin_dws and, in the
pretrained and frozen regimes, today's losses multi_similarity, proxy_anchor and
xbm_multi_similarity (LOSSES says how each is set), each alone and with DVML (the paper's
method: both phases, its lambdas, the package's defaults); a pair shares
backbone, image size, steps, batch and seeds and differs only in --dvml. VARIANTS are
other settings, each compared with its baseline; `run` takes them by name, `all` runs
those its sitting lists among its methods (SITTING_METHODS), and `report` tables, beside
the methods, the finished runs of those its sitting lists in SITTING_VARIANTS.
Each run is one `python -m dvml_tf.main` in benchmarks/results/quality/<regime>/
<method>_s<seed>/: rerunning it resumes from its last checkpoint, and its metrics.json
(with bootstrap intervals) and diagnostics.json are its results files, so the benchmark
runs in parts across sittings.
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
DATA = os.path.join(ROOT, "..", "shared", "data", "cars196")
# A sitting: a stage-1 backbone and the runs on it, in benchmarks/results/<sitting>/. Stage 1
# is not bit-reproducible on CPU (the order of multi-threaded sums; made again from seed 0,
# its MAP@R came out 8.0 % instead of 8.3 %), so runs compared with each other share a
# sitting. "quality": the 2017 losses, DVML and its variants; "quality_todays_losses":
# today's losses against margin + DWS (#28).
SITTINGS = ("quality", "quality_todays_losses")
RESULTS = STAGE1_DIR = STAGE1_WEIGHTS = None  # set by use_sitting


def use_sitting(sitting):
    global RESULTS, STAGE1_DIR, STAGE1_WEIGHTS
    RESULTS = os.path.join(ROOT, "benchmarks", "results", sitting)
    STAGE1_DIR = os.path.join(RESULTS, "stage1")
    STAGE1_WEIGHTS = os.path.join(STAGE1_DIR, "backbone.weights.h5")  # Keras 3 names


use_sitting("quality")
# One budget for every run: the small CNN at 48 px, batches of 15 classes x 4 images
# (N-pair: 30 x 2), 1,000 steps, evaluated once at the end with 1,000 bootstrap resamples.
SETTINGS = ["--dataset=folder", "--backbone=small_cnn", "--image_size=48", "--resize_size=54",
            "--random_flip", "--embedding_dim=128", "--classes_per_batch=15",
            "--images_per_class=4", "--train_steps=1000", "--checkpoint_every=250",
            "--summary_every=50", "--export_dir=", "--eval_batch_size=256",
            "--eval_bootstrap=1000"]
# Stage 1: Proxy-NCA on the training classes, no DVML, 2,000 steps at 1e-3.
STAGE1 = ["--metric_loss=proxy_nca", "--nodvml", "--learning_rate=1e-3", "--train_steps=2000"]
# Each metric loss's flags. From scratch, the triplet pair trains at 1e-4 (at 1e-3 and
# 3e-4 semi-hard and batch-hard mining both collapsed), the others at 1e-3.
# Today's losses (#28) at their papers' settings; XBM with Multi-Similarity, the XBM
# paper's main pairing (margin + DWS draws one negative per pair and has no memory form
# here): a memory of 2,048 embeddings (a quarter of the training images), from step 250.
LOSSES = {
    "triplet": ["--metric_loss=triplet_semihard"],
    "npairs": ["--metric_loss=npairs", "--classes_per_batch=30", "--images_per_class=2"],
    "margin_dws": ["--metric_loss=margin_dws"],
    "multi_similarity": ["--metric_loss=multi_similarity"],
    "proxy_anchor": ["--metric_loss=proxy_anchor"],
    "xbm_multi_similarity": ["--metric_loss=multi_similarity", "--cross_batch_memory=2048",
                             "--cross_batch_memory_start=250"],
}
# Today's losses against margin + DWS, the best of 2017's here, and XBM against its loss
# alone: (method, compared with), seed by seed.
COMPARISONS = [("multi_similarity", "margin_dws"), ("proxy_anchor", "margin_dws"),
               ("xbm_multi_similarity", "margin_dws"),
               ("xbm_multi_similarity", "multi_similarity"),
               ("multi_similarity_lambda_0.5", "multi_similarity"),
               ("multi_similarity_lambda_0.5", "margin_dws"),
               ("xbm_multi_similarity_lambda_0.5", "multi_similarity_lambda_0.5")]
SCRATCH_RATES = {"triplet": 1e-4, "npairs": 1e-3, "margin_dws": 1e-3}  # none for today's
REGIMES = ("scratch", "pretrained", "frozen")
SEEDS = {"scratch": (0, 1, 2), "pretrained": (0, 1, 2), "frozen": (0, 1, 2, 3, 4)}
# DVML as the paper defines it, on this budget: phase 1 for the first half of the steps.
PHASE1_STEPS = 500


def regime_flags(regime, loss):
    if regime == "scratch":
        return [f"--learning_rate={SCRATCH_RATES[loss]}"]
    weights = [f"--backbone_weights={STAGE1_WEIGHTS}"]
    if regime == "pretrained":
        return weights + ["--learning_rate=1e-4"]
    return weights + ["--freeze_backbone", "--learning_rate=1e-3"]


# name -> (metric loss, the baseline it is compared with or None, flags). METHODS are what
# `all` runs; VARIANTS the levers of the paper's balance, one at a time.
METHODS = {}
for _loss in LOSSES:
    METHODS[_loss] = (_loss, None, ["--nodvml"])
    METHODS[f"dvml_{_loss}"] = (_loss, _loss, ["--dvml", f"--phase1_steps={PHASE1_STEPS}"])
TODAYS = ("margin_dws", "multi_similarity", "dvml_multi_similarity", "proxy_anchor",
          "dvml_proxy_anchor", "xbm_multi_similarity", "dvml_xbm_multi_similarity",
          "multi_similarity_lambda_0.5", "dvml_multi_similarity_lambda_0.5",
          "xbm_multi_similarity_lambda_0.5")
LOSSES_OF_2017 = ("triplet", "npairs", "margin_dws")
# Each sitting's methods (what `all` runs and `report` tables) and regimes.
SITTING_METHODS = {"quality": [m for m in METHODS if METHODS[m][0] in LOSSES_OF_2017],
                   "quality_todays_losses": list(TODAYS)}
SITTING_REGIMES = {"quality": REGIMES, "quality_todays_losses": ("frozen", "pretrained")}
# The lambdas of two levers: the KL term (lambda1) at a tenth, no synthesized metric term
# (lambda3); the others as DVML's defaults.
KL_AT_A_TENTH = ["--phase1_lambdas=0.1,1,0.1,1", "--phase2_lambdas=0.08,1,0.2,0.8"]
NO_SYNTHESIZED_METRIC = ["--phase1_lambdas=1,1,0,1", "--phase2_lambdas=0.8,1,0,0.8"]
VARIANTS = {}
for _loss in LOSSES_OF_2017:
    _dvml = METHODS[f"dvml_{_loss}"][2]
    VARIANTS[f"dvml_{_loss}_phase1_only"] = (_loss, _loss, ["--dvml", "--phase1_steps=1000"])
    VARIANTS[f"dvml_{_loss}_zero_heads"] = (_loss, _loss, _dvml + ["--variance_heads_init=zeros"])
    VARIANTS[f"dvml_{_loss}_squared"] = (_loss, _loss, _dvml + ["--reconstruction=squared"])
    VARIANTS[f"dvml_{_loss}_kl_0.1"] = (_loss, _loss, _dvml + KL_AT_A_TENTH)
    VARIANTS[f"dvml_{_loss}_4_samples"] = (_loss, _loss, _dvml + ["--synthesized_in_metric=4"])
    VARIANTS[f"dvml_{_loss}_phase2_from_250"] = (_loss, _loss, ["--dvml", "--phase1_steps=250"])
    VARIANTS[f"dvml_{_loss}_free_bits_1"] = (_loss, _loss, _dvml + ["--kl_free_bits=1"])
    VARIANTS[f"dvml_{_loss}_normalized_synthesized"] = (_loss, _loss,
                                                        _dvml + ["--normalize_synthesized"])
    VARIANTS[f"dvml_{_loss}_lambda3_0"] = (_loss, _loss, _dvml + NO_SYNTHESIZED_METRIC)
    VARIANTS[f"dvml_{_loss}_lambda3_x5"] = (_loss, _loss, _dvml + [
        "--phase1_lambdas=1,1,0.5,1", "--phase2_lambdas=0.8,1,1,0.8"])
    for _reduction in ("mean", "sum"):
        _baseline = f"{_loss}_{_reduction}"
        VARIANTS[_baseline] = (_loss, None, ["--nodvml", f"--metric_reduction={_reduction}"])
        VARIANTS[f"dvml_{_baseline}"] = (_loss, _baseline,
                                         _dvml + [f"--metric_reduction={_reduction}"])
        VARIANTS[f"dvml_{_baseline}_zero_heads"] = (_loss, _baseline, _dvml + [
            f"--metric_reduction={_reduction}", "--variance_heads_init=zeros"])
# Multi-Similarity at lambda = 0.5, the setting of its authors' code and of
# pytorch-metric-learning (the paper prints lambda = 1).
VARIANTS["multi_similarity_lambda_0.5"] = ("multi_similarity", None,
                                           ["--nodvml", "--ms_lambda=0.5"])
VARIANTS["dvml_multi_similarity_lambda_0.5"] = (
    "multi_similarity", "multi_similarity_lambda_0.5",
    METHODS["dvml_multi_similarity"][2] + ["--ms_lambda=0.5"])
VARIANTS["xbm_multi_similarity_lambda_0.5"] = ("xbm_multi_similarity", None,
                                               ["--nodvml", "--ms_lambda=0.5"])
# Why DVML breaks Multi-Similarity when the backbone trains: the same two levers, against
# Multi-Similarity alone.
_dvml = METHODS["dvml_multi_similarity"][2]
VARIANTS["dvml_multi_similarity_kl_0.1"] = ("multi_similarity", "multi_similarity",
                                            _dvml + KL_AT_A_TENTH)
VARIANTS["dvml_multi_similarity_lambda3_0"] = ("multi_similarity", "multi_similarity",
                                               _dvml + NO_SYNTHESIZED_METRIC)
# Each sitting's variants, reported beside its methods.
SITTING_VARIANTS = {
    "quality": [m for m in VARIANTS if VARIANTS[m][0] in LOSSES_OF_2017],
    "quality_todays_losses": ["dvml_multi_similarity_kl_0.1", "dvml_multi_similarity_lambda3_0"]}
RUNS = {**METHODS, **VARIANTS}
# Beside each run's metrics.json: its wall time and the commit of the code it ran.
RUN_INFO = "run_info.json"
COLUMNS = ("recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r")


def run_dir(regime, method, seed):
    return os.path.join(RESULTS, regime, f"{method}_s{seed}")


def command(regime, method, seed, data_dir=DATA):
    loss, _, flags = RUNS[method]
    return [sys.executable, "-m", "dvml_tf.main", *SETTINGS, *LOSSES[loss],
            *regime_flags(regime, loss), *flags, f"--data_dir={data_dir}", f"--seed={seed}",
            f"--model_dir={run_dir(regime, method, seed)}"]


def _commit():
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip() or "unknown"


def _timed(argv, folder):
    """Runs argv; adds its wall time to folder's run_info.json."""
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True)
    path = os.path.join(folder, RUN_INFO)
    before = json.load(open(path)).get("seconds", 0.0) if os.path.exists(path) else 0.0
    seconds = time.perf_counter() - start + before
    with open(path, "w") as f:
        json.dump({"seconds": seconds, "commit": _commit()}, f)
    return seconds


def stage1():
    """Trains the stage-1 backbone and writes its weights file (once)."""
    if os.path.exists(STAGE1_WEIGHTS):
        return
    run = os.path.join(STAGE1_DIR, "run")
    argv = [sys.executable, "-m", "dvml_tf.main", *SETTINGS, *STAGE1, f"--data_dir={DATA}",
            "--seed=0", f"--model_dir={run}"]
    seconds = _timed(argv, STAGE1_DIR)
    from dvml_tf.training.checkpoints import save_backbone_weights

    save_backbone_weights(run, STAGE1_WEIGHTS)
    print(f"stage 1: {seconds / 60:.1f} min -> {STAGE1_WEIGHTS}")


def run(regime, method, seed):
    """Trains and evaluates one (regime, method, seed), resuming if interrupted."""
    if regime != "scratch":
        stage1()
    seconds = _timed(command(regime, method, seed), run_dir(regime, method, seed))
    print(f"{regime} {method} seed {seed}: {seconds / 60:.1f} min")


def _json(path):
    return json.load(open(path)) if os.path.exists(path) else None


def finished_seeds(regime, method):
    """The seeds of `method` in `regime` whose run has finished, beyond SEEDS too."""
    prefix = f"{method}_s"
    folder = os.path.join(RESULTS, regime)
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return sorted(int(name[len(prefix):]) for name in names
                  if name.startswith(prefix) and name[len(prefix):].isdigit()
                  and os.path.exists(os.path.join(folder, name, "metrics.json")))


def collect(regime, methods):
    """{method: [results of each finished seed]} for those of `methods` that have any."""
    results = {}
    for method in methods:
        for seed in finished_seeds(regime, method):
            folder = run_dir(regime, method, seed)
            metrics = _json(os.path.join(folder, "metrics.json"))
            results.setdefault(method, []).append(
                {**metrics, "seed": seed,
                 "diagnostics": _json(os.path.join(folder, "diagnostics.json")),
                 "commit": (_json(os.path.join(folder, RUN_INFO)) or {}).get("commit")})
    return results


def table(results):
    lines = ["| method | seeds | " + " | ".join(COLUMNS) + " | R@1 95 % CI (seed mean) |",
             "|---|---|" + "---|" * (len(COLUMNS) + 1)]
    for method, runs in results.items():
        cells = []
        for column in COLUMNS:
            values = 100 * np.array([r[column] for r in runs])
            spread = f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.1f}{spread}")
        intervals = [r.get("recall@1_ci95") for r in runs if r.get("recall@1_ci95")]
        half = (f"± {100 * np.mean([(b - a) / 2 for a, b in intervals]):.1f}"
                if intervals else "–")
        lines.append(f"| {method} | {len(runs)} | " + " | ".join(cells) + f" | {half} |")
    return "\n".join(lines)


def differences(results, pairs):
    """Rows: Recall@1 of each DVML method minus its baseline's, seed by seed, and whether
    the mean difference is beyond the seeds' noise (its 95 % t-interval excludes 0)."""
    from scipy import stats

    lines = ["| method | compared with | R@1 difference per seed (points) | mean ± sd | "
             "beyond noise? |", "|---|---|---|---|---|"]
    for method, baseline in pairs:
        ours = {r["seed"]: r["recall@1"] for r in results.get(method, [])}
        theirs = {r["seed"]: r["recall@1"] for r in results.get(baseline, [])}
        deltas = np.array([100 * (ours[s] - theirs[s]) for s in sorted(ours) if s in theirs])
        if not len(deltas):
            continue
        cells = ", ".join(f"{d:+.1f}" for d in deltas)
        if len(deltas) > 1:
            sd = deltas.std(ddof=1)
            half = stats.t.ppf(0.975, len(deltas) - 1) * sd / np.sqrt(len(deltas))
            verdict = ("no" if abs(deltas.mean()) <= half
                       else ("yes, better" if deltas.mean() > 0 else "yes, worse"))
            summary = f"{deltas.mean():+.1f} ± {sd:.1f}"
        else:
            verdict, summary = "one seed", f"{deltas.mean():+.1f}"
        lines.append(f"| {method} | {baseline} | {cells} | {summary} | {verdict} |")
    return "\n".join(lines)


def diagnostics_table(results):
    """Table 4's statistics, the variance branch and where the synthesized samples lie
    (diagnostics.json), for seed 0 of each method."""
    lines = ["| method | KS p mean ± sd | relative deviation % | sigma mean | active units | "
             "Var(mu) between classes | \\|z_I\\|, \\|sigma eps\\| | cos(z_hat, z_I) | "
             "nearest own class centre: real, synthesized |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, runs in results.items():
        first = next((r["diagnostics"] for r in runs if r["seed"] == 0 and r["diagnostics"]),
                     None)
        if first is None:
            continue
        branch = first.get("variance_branch") or {}
        synthesized = first.get("synthesized_samples")
        cells = [f"{100 * first['ks_p_value_mean']:.1f} ± {100 * first['ks_p_value_sd']:.1f}",
                 f"{first['relative_deviation_percent']:.1f}",
                 *(f"{branch[k]:.3g}" if k in branch else "–"
                   for k in ("sigma_mean", "active_units", "mu_between_class_share"))]
        if synthesized:
            cells += ["{z_invariant_norm_mean:.2f}, {noise_norm_mean:.2f}".format(**synthesized),
                      f"{synthesized['cosine_to_z_invariant_mean']:.2f}",
                      "{:.0f} %, {:.0f} %".format(
                          100 * synthesized["nearest_centre_own_class_real"],
                          100 * synthesized["nearest_centre_own_class_synthesized"])]
        else:
            cells += ["–"] * 3
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(by_regime, path):
    """Recall@1 per method, one panel per regime: horizontal bars, mean ± sd over seeds,
    DVML in blue, each bar labelled with its mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(results) for results in by_regime.values())
    figure, axes = plt.subplots(1, len(by_regime), figsize=(5.5 * len(by_regime),
                                                            1.2 + 0.4 * rows),
                                dpi=100, squeeze=False)
    for axis, (regime, results) in zip(axes[0], by_regime.items()):
        methods = list(results)
        recalls = [100 * np.array([r["recall@1"] for r in results[m]]) for m in methods]
        means = [r.mean() for r in recalls]
        errors = [r.std(ddof=1) if len(r) > 1 else 0.0 for r in recalls]
        bars = axis.barh(methods, means, xerr=errors,
                         color=["#36c" if m.startswith("dvml") else "#999" for m in methods])
        axis.bar_label(bars, labels=[f"{mean:.1f}" for mean in means], padding=4, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlim(0, 1.15 * max(means))
        counts = sorted({len(r) for r in recalls})
        seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        axis.set_title(f"{regime} ({seeds} seeds per method)")
        axis.set_xlabel("Recall@1 (%), test classes 99-196")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _hours():
    total = 0.0
    for root, _, files in os.walk(RESULTS):
        if RUN_INFO in files:
            total += json.load(open(os.path.join(root, RUN_INFO))).get("seconds", 0.0)
    return total / 3600


# Each sitting's report and figure under docs/, its title, and the run its report shows
# as an example command.
REPORTS = {"quality": ("QUALITY_RESULTS.md", "quality_recall_at_1.png",
                       "DVML against its baselines on the Cars196 copy", "dvml_margin_dws"),
           "quality_todays_losses": ("QUALITY_RESULTS_TODAYS_LOSSES.md",
                                     "quality_todays_losses_recall_at_1.png",
                                     "Today's losses, with and without DVML, on the Cars196 "
                                     "copy", "dvml_proxy_anchor")}


def report(sitting):
    sections, by_regime = [], {}
    for regime in SITTING_REGIMES[sitting]:
        results = collect(regime, SITTING_METHODS[sitting])
        if not results:
            continue
        by_regime[regime] = results
        variants = collect(regime, SITTING_VARIANTS[sitting])
        pairs = [(m, RUNS[m][1]) for m in {**results, **variants} if RUNS[m][1]]
        if sitting == "quality_todays_losses":
            pairs += COMPARISONS
        sections.append("\n\n".join(
            [f"## {regime}", table(results), differences({**results, **variants}, pairs)]
            + ([table(variants)] if variants else [])
            + ["Diagnostics (seed 0, test set; the synthesized samples: one per image, "
               "z_I + mu + sigma eps):",
               diagnostics_table({**results, **variants})]))
    if not sections:
        sys.exit(f"error: no finished runs under benchmarks/results/{sitting}")
    document, figure, title, example_method = REPORTS[sitting]
    plot(by_regime, os.path.join(ROOT, "docs", figure))
    example = " ".join(command("pretrained", example_method, 0, "../shared/data/cars196")[1:])
    text = "\n\n".join(sections)
    with open(os.path.join(ROOT, "docs", document), "w") as f:
        f.write(
            f"# {title}\n\n"
            f"Written by `benchmarks/quality.py report --sitting={sitting}` from the runs\n"
            "finished so far, each on this sitting's own stage-1 backbone\n"
            "(benchmarks/quality.py's docstring says what each regime is). Zero-shot split:\n"
            "classes 001-098 train (8,054 images), 099-196 test (8,131). Small CNN, 48 px\n"
            "crops of 54 px images, 1,000 steps per run; DVML: both phases, phase 2 from\n"
            f"step {PHASE1_STEPS}. Values in %, mean ± sample standard deviation over seeds;\n"
            "the CI column is the mean half-width of each run's 95 % bootstrap interval\n"
            "(queries resampled). A difference is beyond noise when its 95 % t-interval over\n"
            f"seeds excludes 0. Wall time of all runs so far: {_hours():.2f} h on 2 CPU cores.\n\n"
            f"{text}\n\n"
            f"Each run, e.g. {example_method}, pretrained, seed 0:\n\n"
            f"    python {example.replace(ROOT + '/', '')}\n\n"
            f"![Recall@1]({figure})\n")
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("stage1", "run", "all", "report"))
    parser.add_argument("--regime", choices=REGIMES)
    parser.add_argument("--method", choices=sorted(RUNS))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--sitting", choices=SITTINGS, default="quality")
    args = parser.parse_args()
    use_sitting(args.sitting)
    if args.action == "stage1":
        stage1()
    elif args.action == "run":
        if None in (args.regime, args.method, args.seed):
            sys.exit("error: run needs --regime, --method and --seed")
        run(args.regime, args.method, args.seed)
    elif args.action == "all":
        for regime in ([args.regime] if args.regime else SITTING_REGIMES[args.sitting]):
            for seed in SEEDS[regime]:
                for method in SITTING_METHODS[args.sitting]:
                    if not os.path.exists(os.path.join(run_dir(regime, method, seed),
                                                       "metrics.json")):
                        run(regime, method, seed)
        report(args.sitting)
    else:
        report(args.sitting)


if __name__ == "__main__":
    main()
