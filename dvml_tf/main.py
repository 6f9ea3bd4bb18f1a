"""`python -m dvml_tf.main`: train, evaluate and export DVML models (absl flags).

    python -m dvml_tf.main                          # digits, trains in minutes on a CPU
    python -m dvml_tf.main --flagfile=flags/cub.cfg --data_dir=~/tensorflow_datasets
"""
import logging as std_logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import logging  # noqa: E402

from dvml_tf import builder, distribution, options, training  # noqa: E402
from dvml_tf.callbacks import current_step  # noqa: E402
from dvml_tf.cli import run_command
from dvml_tf.data.datasets import load_splits  # noqa: E402
from dvml_tf.errors import UserError  # noqa: E402
from dvml_tf.export import export_model  # noqa: E402


def _set_up_tensorflow(config):
    """Device and determinism settings, before TensorFlow initialises its devices."""
    import tensorflow as tf

    if config.cpu_devices > 1:
        distribution.split_cpu(config.cpu_devices)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    return distribution.make_strategy(config.strategy, config.tpu)


def run_modes(config):
    """Runs what --mode asks for; returns the metrics when it evaluated."""
    chief = distribution.is_chief()
    if config.mode in ("train_and_eval", "train"):
        if chief:
            options.save_run_config(config)
    else:
        config = options.with_trained_architecture(config)
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
        metrics = dict(evaluate_at(step), step=step)
        training.write_metrics(config.model_dir, metrics)
        print(f"metrics at step {step}: " + ", ".join(
            f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    if config.mode in ("train_and_eval", "export") and config.export_dir:
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
