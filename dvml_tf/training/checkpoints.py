"""A run's model folder: its checkpoints, the run config saved beside them, and loading a
trained run back (`load_trained_model`)."""
import json
import os
from typing import Optional, Tuple

import keras
import tensorflow as tf

from dvml_tf.config import (
    ARCHITECTURE_KEYS,
    RUN_CONFIG_FILE,
    RunConfig,
    config_from_saved,
    validate,
    with_derived_defaults,
)
from dvml_tf.config_parts import TrainingSettings
from dvml_tf.errors import UserError, first_line, flag, flag_prefix
from dvml_tf.files import WEIGHTS_SUFFIX, write_json_atomically
from dvml_tf.models.dvml import DVMLModel
from dvml_tf.training.build import build_network_to_restore

CHECKPOINT_SUBDIR = "checkpoints"


def checkpoint_manager(model: DVMLModel, model_dir: str,
                       keep: int = TrainingSettings.keep_checkpoints) -> tf.train.CheckpointManager:
    """Checkpoints in <model_dir>/checkpoints; written atomically, the newest `keep` kept."""
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    return tf.train.CheckpointManager(
        checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR), max_to_keep=keep)


def restore_latest(manager: tf.train.CheckpointManager) -> Optional[str]:
    """Restores the newest checkpoint, if any, into the objects of the manager's checkpoint
    (a model without its optimizer takes the model's part); returns its path or None. A
    checkpoint whose weights are not all finite is refused in one line."""
    path = manager.latest_checkpoint
    if path:
        try:
            manager.checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
        except (IndexError, tf.errors.DataLossError) as error:
            raise UserError(f"{path}: damaged or cut short ({first_line(error)}); it "
                            "cannot be loaded") from None
        except (AssertionError, ValueError, KeyError, tf.errors.OpError) as error:
            raise UserError(f"{path} does not match this model (trained with other settings "
                            f"or an older dvml_tf): {first_line(error)}") from None
        bad = manager.checkpoint.model.non_finite_weights()
        if bad:
            raise UserError(f"{path}: {len(bad)} weights hold NaN or infinite values (e.g. "
                            f"{bad[0]}); it cannot be resumed, evaluated or exported")
    return path


def current_step(model: DVMLModel) -> int:
    """The training steps the model has taken, skipped ones included: its training step."""
    return int(model.steps_taken.numpy())


# The format of a run's checkpoints: 2 since the port to Keras 3 (dvml_tf 0.2); run_config
# files without it were written by dvml_tf 0.1 on Keras 2.
CHECKPOINT_FORMAT = 2


def save_run_config(config: RunConfig) -> None:
    """Writes the run's settings beside its checkpoints (atomically), with the format of
    those checkpoints."""
    os.makedirs(config.training.model_dir, exist_ok=True)
    path = os.path.join(config.training.model_dir, RUN_CONFIG_FILE)
    write_json_atomically(path, {**json.loads(config.to_json()),
                                 "checkpoint_format": CHECKPOINT_FORMAT})


def load_run_config(model_dir: str) -> RunConfig:
    """The RunConfig saved by a training run; settings it predates take their defaults."""
    path = os.path.join(model_dir, RUN_CONFIG_FILE)
    if not os.path.exists(path):
        raise UserError(f"{flag('model_dir')}={model_dir}: no trained run found ({RUN_CONFIG_FILE} "
                        "is missing); train first")
    try:
        with open(path) as f:
            saved = json.load(f)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
        config = config_from_saved(saved)
        for part in config.parts():
            part.check_types(flag_prefix())
        # A run that dvml_tf.run trained before it filled these in saved them unset.
        config = with_derived_defaults(config)
        validate(config)
    except (OSError, ValueError, TypeError, UserError) as error:  # cut short, hand-edited
        raise UserError(f"{path}: not a readable run_config.json ({first_line(error, 120)}); "
                        f"restore it from a copy or train in a new {flag('model_dir')}") from None
    if saved.get("checkpoint_format") != CHECKPOINT_FORMAT:
        raise UserError(f"{flag('model_dir')}={model_dir}: a run of dvml_tf 0.1 (Keras 2), "
                        "which this dvml_tf (Keras 3) cannot load; train it again, or use "
                        "dvml_tf 0.1")
    return config


def check_resumable(config: RunConfig) -> None:
    """Raises UserError, before anything is written, when --model_dir holds checkpoints of
    a network other than the one `config` asks for."""
    if not os.path.exists(os.path.join(config.training.model_dir, CHECKPOINT_SUBDIR, "checkpoint")):
        return
    trained, asked = load_run_config(config.training.model_dir).flat(), config.flat()
    for key in ARCHITECTURE_KEYS:
        if key == "num_proxies" and config.loss.num_proxies == 0:
            continue  # derived from the training split, as the trained run's was
        if trained[key] != asked[key]:
            raise UserError(f"{flag(key)}={asked[key]}: "
                            f"{flag('model_dir')}={config.training.model_dir} holds a run "
                            f"trained with {flag(key)}={trained[key]}; rerun with its settings "
                            f"or choose another {flag('model_dir')}")


def load_trained_model(model_dir: str, config: Optional[RunConfig] = None,
                       strategy: Optional[tf.distribute.Strategy] = None
                       ) -> Tuple[DVMLModel, RunConfig]:
    """(model restored from the newest checkpoint in `model_dir`, the run's config), for
    inference: from the checkpoint alone (build_network_to_restore: no seed set, no
    optimizer, no backbone weights file read).

    `config` defaults to the run's saved settings; one passed in keeps its own settings
    but takes the network's from the trained run.
    """
    trained = load_run_config(model_dir)
    if config is not None:
        trained = config_with_architecture(config, trained)
    model = build_network_to_restore(trained, strategy)
    model_only = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                            os.path.join(model_dir, CHECKPOINT_SUBDIR), None)
    if not restore_latest(model_only):
        raise UserError(f"{flag('model_dir')}={model_dir}: no checkpoint to load; train first")
    return model, trained


def config_with_architecture(config: RunConfig, trained: RunConfig) -> RunConfig:
    """`config` with the network settings of the `trained` run."""
    network = trained.flat()
    return config.replace(**{key: network[key] for key in ARCHITECTURE_KEYS})


def save_backbone_weights(model_dir: str, path: str) -> str:
    """Writes the feature extractor of the run in `model_dir` (its newest checkpoint) to a
    Keras weights file at `path` that --backbone_weights=PATH loads; returns `path`.
    Refuses to replace an existing file."""
    if not path.endswith(WEIGHTS_SUFFIX):
        raise UserError(f"{path}: name the backbone weights file *{WEIGHTS_SUFFIX} (Keras 3 "
                        "writes no other)")
    if os.path.lexists(path):
        raise UserError(f"{path}: already exists; choose a new file for the backbone weights")
    model, _ = load_trained_model(model_dir)
    features = next(layer for layer in model.backbone.layers if isinstance(layer, keras.Model))
    features.save_weights(path)
    return path
