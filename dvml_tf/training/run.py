"""`run_modes(config)`: what --mode asks for, in order: train, evaluate, export.

Training and evaluation hold --model_dir's lock; a training run checks that the
checkpoints there are of the same network before it writes anything, and records its
settings only once the latest checkpoint has restored. A full disk ends any of them in
one line.
"""
import contextlib
import logging
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from dvml_tf import tensorboard_tags
from dvml_tf.config import RunConfig, finished_config
from dvml_tf.data.datasets import load_splits
from dvml_tf.data.splits import ImageSplit
from dvml_tf.errors import UserError, flag, out_of_space_is_user_error
from dvml_tf.evaluation import stages
from dvml_tf.evaluation.figures import write_figures
from dvml_tf.evaluation.model_evaluation import (
    DIAGNOSTICS_FILE,
    METRICS_FILE,
    UNTRAINED_METRICS_FILE,
    evaluate_model,
    read_json,
    write_json,
)
from dvml_tf.losses.metric import PROXY_LOSSES
from dvml_tf.serving.export import export_model
from dvml_tf.training import distribution, feature_cache
from dvml_tf.training.build import build_model
from dvml_tf.training.checkpoints import (
    CHECKPOINT_SUBDIR,
    check_resumable,
    current_step,
    load_run_config,
    load_trained_model,
)
from dvml_tf.training.loop import train
from dvml_tf.training.model_dir_lock import holding_model_dir

TRAINING_MODES = ("train_and_eval", "train")


def run_modes(config: RunConfig) -> Optional[Dict[str, float]]:
    """Runs what config.training.mode asks for; returns the metrics when it evaluated.
    `config` is validated as the command line's is (dvml_tf.run passes it straight in; a
    bad setting is named as its flag on the command line, by its field in Python)."""
    config = finished_config(config)
    chief = distribution.is_chief()
    training = config.training.mode in TRAINING_MODES
    if not training:
        load_run_config(config.training.model_dir)  # no trained run: one line before any data loads
    writes_model_dir = chief and config.training.mode != "export"
    with (holding_model_dir(config.training.model_dir) if writes_model_dir
          else contextlib.nullcontext()):
        if training and chief:
            check_resumable(config)
        return _run_modes(config, chief)


def _set_up_tensorflow(config: RunConfig) -> tf.distribute.Strategy:
    """Device and determinism settings, before TensorFlow initialises its devices."""
    if config.training.cpu_devices > 1:
        distribution.split_cpu(config.training.cpu_devices)
    if config.training.deterministic:
        tf.config.experimental.enable_op_determinism()
    return distribution.make_strategy(config.training.strategy, config.training.tpu)


def with_proxy_table(config: RunConfig, train_split: ImageSplit) -> RunConfig:
    """For proxy_nca and proxy_anchor, `config` with --num_proxies covering every training
    label (0: one per label 0..max); UserError when a given table is too small."""
    if config.loss.metric_loss not in PROXY_LOSSES:
        return config
    needed = int(train_split.labels.max()) + 1
    if config.loss.num_proxies == 0:
        return config.replace(num_proxies=needed)
    if config.loss.num_proxies < needed:
        raise UserError(f"{flag('num_proxies')}={config.loss.num_proxies}: the training labels "
                        f"go up to {needed - 1}; "
                        f"{flag('metric_loss')}={config.loss.metric_loss} needs one proxy per "
                        f"label (at least {needed}, or 0 for exactly that)")
    return config


def _warn_about_frozen_random_features(config: RunConfig) -> None:
    if config.model.freeze_backbone and config.model.backbone_weights == "none":
        logging.warning(f"{flag('freeze_backbone')} with {flag('backbone_weights')}=none: the "
                        "backbone's random features stay frozen; only the heads will learn")


def _model_dir_full(config: RunConfig):
    """A full disk while writing into --model_dir: one line, and no partial files left."""
    checkpoints = os.path.join(config.training.model_dir, CHECKPOINT_SUBDIR)
    return out_of_space_is_user_error(
        f"{flag('model_dir')}={config.training.model_dir}",
        debris=[os.path.join(checkpoints, "*_temp*"),
                os.path.join(config.training.model_dir, "*.json.*.tmp.json")])


def _shown_name(metric: str) -> str:
    return {"nmi": "NMI", "f1": "F1", "map@r": "MAP@R"}.get(
        metric, metric.replace("recall@", "Recall@"))


HEADLINE_METRICS = ("recall@1", "map@r", "nmi", "f1")


def _short_summary(metrics: Dict[str, object]) -> str:
    return ", ".join(f"{_shown_name(name)} {metrics[name]:.3f}"
                     for name in HEADLINE_METRICS if name in metrics)


def closing_lines(metrics: Dict[str, object], step: int, model_dir: str,
                  arrow: str = "\u2192") -> List[str]:
    """The headline metrics, one per line ('step 1000: Recall@1 0.089 untrained \u2192
    0.964 trained', with the untrained values where the run evaluated its untrained
    network), and where the rest are."""
    untrained = metrics.get("untrained") or {}
    lead = f"step {step}: "
    lines = []
    for name in HEADLINE_METRICS:
        if name in metrics:
            before = f"{untrained[name]:.3f} untrained {arrow} " if name in untrained else ""
            value = f"{before}{metrics[name]:.3f}" + (" trained" if before else "")
            lines.append(f"{lead if not lines else ' ' * len(lead)}{_shown_name(name)} {value}")
    lines.append(f"every metric: {os.path.join(model_dir, METRICS_FILE)}")
    return lines


def where_to_look(model_dir: str, figures: bool) -> List[str]:
    """Where to look at a run: TensorBoard (and the address that opens it on the losses
    and evaluation curves, unsmoothed), and its figures."""
    return [f"TensorBoard: tensorboard --logdir {os.path.join(model_dir, 'logs')}",
            f"             then open {tensorboard_tags.url()}",
            f"figures: {os.path.join(model_dir, 'figures')}" if figures else
            f"figures: python -m dvml_tf.cli.visualize --model_dir={model_dir}"]


def _load_data(config: RunConfig) -> Tuple[ImageSplit, ImageSplit]:
    """The run's (train, test) splits, saying what is loaded and what it holds."""
    logging.info(f"loading {flag('dataset')}=%s%s", config.data.dataset,
                 f" from {config.data.data_dir}" if config.data.data_dir else "")
    train, test = load_splits(config.data.dataset, config.data.data_dir, config.data.split_file,
                              config.data.keep_downloads)
    logging.info("%s images of %d classes train, %s of %d classes test", f"{len(train):,}",
                 len(set(train.labels)), f"{len(test):,}", len(set(test.labels)))
    return train, test


def _run_modes(config: RunConfig, chief: bool) -> Optional[Dict[str, float]]:
    strategy = _set_up_tensorflow(config)
    if config.training.mode != "export":  # an export needs the trained model only
        train_split, test_split = _load_data(config)
    if config.training.mode in TRAINING_MODES:
        config = with_proxy_table(config, train_split)
        _warn_about_frozen_random_features(config)
        model = build_model(config, strategy)
        cache = feature_cache.for_run(config, model.backbone, train_split, test_split,
                                      strategy.num_replicas_in_sync)
    else:
        model, config = load_trained_model(config.training.model_dir, config, strategy)
        cache = None
    evaluations = {}

    def evaluate_at(step):
        """Each step is evaluated once: a periodic evaluation at the last step is the final,
        which the closing line shows; the others are logged."""
        if step not in evaluations:
            started = time.monotonic()
            evaluations[step] = evaluate_model(config, model, test_split, step,
                                               cache.test if cache else None)
            if step < config.training.train_steps:
                logging.info("evaluation at step %d%s: %s (%.0f s)", step,
                             " (untrained)" if step == 0 else "",
                             _short_summary(evaluations[step].metrics),
                             time.monotonic() - started)
        return evaluations[step]

    if config.training.mode in TRAINING_MODES:
        with _model_dir_full(config):
            def evaluate_untrained():
                write_json(config.training.model_dir, UNTRAINED_METRICS_FILE,
                           evaluate_at(0).metrics)

            evaluates = (chief and config.evaluation.eval_untrained
                         and config.training.mode == "train_and_eval")
            train(config, model, train_split, evaluate_at, strategy,
                  evaluate_untrained if evaluates else None, cache.train if cache else None)
        if not chief:
            return None
    step = current_step(model)
    metrics = None
    if config.training.mode in ("train_and_eval", "eval"):
        with _model_dir_full(config):
            evaluation = evaluate_at(step)
            metrics = dict(evaluation.metrics, step=step)
            untrained = read_json(config.training.model_dir, UNTRAINED_METRICS_FILE)
            if untrained:
                metrics["untrained"] = untrained
            write_json(config.training.model_dir, METRICS_FILE, metrics)
            write_json(config.training.model_dir, DIAGNOSTICS_FILE,
                       dict(evaluation.diagnostics, step=step))
        if config.evaluation.figures and chief:
            with stages.recording() as timed, stages.stage("figures"):
                write_figures(config.training.model_dir, step, evaluation.embeddings,
                              evaluation.labels, test_split, config)
            logging.info("evaluation stages: %s", stages.summary(timed))
        utf = "utf" in (sys.stdout.encoding or "").lower()
        print("\n".join(closing_lines(metrics, step, config.training.model_dir,
                                      "\u2192" if utf else "->")))
    if config.training.mode in ("train_and_eval", "export") and config.export.export_dir:
        with out_of_space_is_user_error(f"{flag('export_dir')}={config.export.export_dir}"):
            path, new = export_model(model, config, step)
            print(f"exported SavedModel to {path}" if new else
                  f"{path} already serves these weights (step {step}); nothing exported")
    if config.training.mode in ("train_and_eval", "eval"):
        print("\n".join(where_to_look(config.training.model_dir,
                                      config.evaluation.figures and chief)))
    return metrics
