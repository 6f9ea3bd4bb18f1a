"""`python -m dvml_tf.main`: train, evaluate and export DVML models (absl flags).

    python -m dvml_tf.main                          # digits, trains in minutes on a CPU
    python -m dvml_tf.main --flagfile=flags/cub.cfg --data_dir=~/tensorflow_datasets
"""
import contextlib
import logging as std_logging
import os
import sys

from absl import logging

from dvml_tf import builder, distribution, options, training
from dvml_tf.callbacks import current_step
from dvml_tf.cli import run_command
from dvml_tf.data.datasets import load_splits
from dvml_tf.disk import out_of_space_is_user_error
from dvml_tf.errors import UserError
from dvml_tf.export import export_model
from dvml_tf.model_dir_lock import holding_model_dir


def _set_up_tensorflow(config):
    """Device and determinism settings, before TensorFlow initialises its devices."""
    import tensorflow as tf

    if config.cpu_devices > 1:
        distribution.split_cpu(config.cpu_devices)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    return distribution.make_strategy(config.strategy, config.tpu)


def run_modes(config):
    """Runs what --mode asks for; returns the metrics when it evaluated.

    Training and evaluation hold --model_dir's lock; a training run checks that the
    checkpoints there are of the same network before it writes anything, and records
    its settings only once the latest checkpoint has restored.
    """
    chief = distribution.is_chief()
    training_mode = config.mode in ("train_and_eval", "train")
    if not training_mode:
        config = options.with_trained_architecture(config)
    writes_model_dir = chief and config.mode != "export"
    with (holding_model_dir(config.model_dir) if writes_model_dir
          else contextlib.nullcontext()):
        if training_mode and chief:
            options.check_resumable(config)
        return _run_modes(config, chief)


def _model_dir_full(config):
    """A full disk while writing into --model_dir: one line, and no partial files left."""
    checkpoints = os.path.join(config.model_dir, builder.CHECKPOINT_SUBDIR)
    return out_of_space_is_user_error(
        f"--model_dir={config.model_dir}",
        debris=[os.path.join(checkpoints, "*_temp*"),
                os.path.join(config.model_dir, "*.json.tmp")])


def _run_modes(config, chief):
    strategy = _set_up_tensorflow(config)
    train_split, test_split = load_splits(config.dataset, config.data_dir, config.split_file)
    model = builder.build_model(config, strategy)

    evaluations = {}

    def evaluate_at(step):
        """Each step is evaluated once: a periodic evaluation at the last step is the final."""
        if step not in evaluations:
            evaluations[step] = training.evaluate(config, model, test_split, step)
        return evaluations[step]

    if config.mode in ("train_and_eval", "train"):
        with _model_dir_full(config):
            training.train(config, model, train_split, evaluate_at, strategy)
        if not chief:
            return None
    else:
        manager = builder.checkpoint_manager(model, config.model_dir)
        if not builder.restore_latest(manager):
            raise UserError(f"--model_dir={config.model_dir}: no checkpoint to {config.mode}")
    step = current_step(model)
    metrics = None
    if config.mode in ("train_and_eval", "eval"):
        with _model_dir_full(config):
            metrics = dict(evaluate_at(step), step=step)
            training.write_metrics(config.model_dir, metrics)
        print(f"metrics at step {step}: " + ", ".join(
            f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    if config.mode in ("train_and_eval", "export") and config.export_dir:
        with out_of_space_is_user_error(f"--export_dir={config.export_dir}"):
            print(f"exported SavedModel to {export_model(model, config, step)}")
    return metrics


def main(argv):
    if len(argv) > 1:
        sys.stderr.write(f"error: unexpected arguments {' '.join(argv[1:])}\n")
        sys.exit(2)
    logging.set_verbosity(logging.INFO)
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
    run_modes(options.config_from_flags())


def run():
    run_command(main)


if __name__ == "__main__":
    run()
