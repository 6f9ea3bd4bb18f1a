"""The fit loop: resume from the latest checkpoint and train to --train_steps."""
import logging
import math
import os
import tempfile
from typing import Callable, List, Optional

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.data import pipeline, sampling
from dvml_tf.data.splits import ImageSplit
from dvml_tf.errors import UserError, flag
from dvml_tf.models.dvml import DVMLModel
from dvml_tf.terminal import STATUS
from dvml_tf.training import callbacks, distribution, feature_cache, variance_summaries
from dvml_tf.training.checkpoints import (
    checkpoint_manager,
    current_step,
    restore_latest,
    save_run_config,
)
from dvml_tf.training.interrupt import Interrupted, StopAtCtrlC


def check_batches_possible(config: RunConfig, train_split: ImageSplit) -> sampling.ClassTable:
    """Raises UserError when the training split cannot form P x K batches."""
    return sampling.class_table_for_batches(train_split.labels, config.data.classes_per_batch,
                                            config.data.images_per_class)


def _train_dataset(config, split, table, strategy, start, features):
    if features is not None:
        return feature_cache.train_dataset(features, split, table, config, start)
    sizes = config.image_sizes(training=True)
    args = (split, table, sizes, config.data.classes_per_batch, config.data.images_per_class,
            config.training.seed)
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return pipeline.train_dataset(*args, start_batch=start)
    if config.data.classes_per_batch % replicas:
        raise UserError(f"{flag('classes_per_batch')}={config.data.classes_per_batch} must "
                        f"divide evenly among the {replicas} replicas")

    def dataset_fn(context):
        shard = (context.num_input_pipelines, context.input_pipeline_id)
        return pipeline.train_dataset(*args, start_batch=start, num_chunks=replicas, shard=shard)

    return strategy.distribute_datasets_from_function(dataset_fn)


def train(config: RunConfig, model: DVMLModel, train_split: ImageSplit,
          evaluate_fn: Optional[Callable[[int], dict]] = None,
          strategy: Optional[tf.distribute.Strategy] = None,
          before_first_step: Optional[Callable[[], None]] = None,
          features: Optional[np.ndarray] = None) -> None:
    """Trains `model` until its optimizer has taken config.training.train_steps steps; a new run
    (no checkpoint to resume) first calls `before_first_step` (the untrained evaluation).
    `features`: the frozen backbone's cached features of the training split
    (feature_cache.py), read in place of its images.

    Only the chief writes to --model_dir; other workers checkpoint to a scratch folder
    (saving is collective under multi-worker training).
    """
    strategy = strategy or tf.distribute.get_strategy()
    table = check_batches_possible(config, train_split)
    chief = distribution.is_chief()
    checkpoint_dir = config.training.model_dir if chief else tempfile.mkdtemp(prefix="dvml_worker_")
    manager = checkpoint_manager(model, checkpoint_dir, config.training.keep_checkpoints)
    restored = restore_latest(manager)
    if chief:
        save_run_config(config)
    start = current_step(model)
    if restored:
        logging.info("resumed from %s at step %d", restored, start)
    if start >= config.training.train_steps:
        logging.info("already trained for %d steps", start)
        return
    timer = callbacks.EvaluationTimer()
    if before_first_step and not restored:
        timer.timed(before_first_step)()
    dataset = _train_dataset(config, train_split, table, strategy, start, features)
    logging.info(f"training on %d replica(s) with {flag('strategy')}=%s",
                 strategy.num_replicas_in_sync, config.training.strategy)
    checkpoint_every = config.training.checkpoint_every
    loop = math.gcd(checkpoint_every, config.evaluation.eval_every or checkpoint_every)
    loop = min(loop, config.training.train_steps)
    saver = callbacks.SaveCheckpoints(manager, config.training.checkpoint_every)
    fit_callbacks = [
        callbacks.StopOnNonFinite(config.training.max_consecutive_skipped, manager),
        callbacks.StopAtStep(config.training.train_steps),
        saver,
    ]
    if chief:
        writer = tf.summary.create_file_writer(
            os.path.join(config.training.model_dir, "logs", "train"))
        probe = variance_summaries.probe_subset(train_split)
        probe_images = next(iter(pipeline.eval_dataset(
            probe, config.image_sizes(training=False), len(probe))))[0]
        summaries = callbacks.TrainingSummaries(writer, config.training.summary_every, probe_images,
                                                probe.labels)
        fit_callbacks.append(summaries)
        eval_every = config.evaluation.eval_every if evaluate_fn else 0
        if eval_every:
            fit_callbacks.append(callbacks.PeriodicEvaluation(timer.timed(evaluate_fn),
                                                              eval_every))
        fit_callbacks.append(callbacks.Progress(
            config.training.train_steps, config.training.summary_every, summaries, timer,
            eval_every,
            final_evaluation=config.training.mode == "train_and_eval"))
        if config.model.dvml:
            fit_callbacks.append(callbacks.PhaseStart(model.settings.phase1_steps))
    epochs, initial_epoch = math.ceil(config.training.train_steps / loop), start // loop
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        fit_across_workers(model, dataset, fit_callbacks, epochs, initial_epoch, loop)
        return
    ctrl_c = StopAtCtrlC(model)
    try:
        with ctrl_c.catching():
            model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=loop,
                callbacks=fit_callbacks,
                shuffle=False,  # the P x K stream is shuffled already
                verbose=0,
            )
    except KeyboardInterrupt:  # the second Ctrl-C
        raise _saved_at_interrupt(saver) from None
    if ctrl_c.pressed and current_step(model) < config.training.train_steps:
        raise _saved_at_interrupt(saver)


def _saved_at_interrupt(saver: callbacks.SaveCheckpoints) -> Interrupted:
    """Ctrl-C: a step is one call of the compiled train function, so the weights, the
    optimizer and the step counter are those of the last finished step; they are saved."""
    STATUS.clear()
    path = saver.save_now()
    return Interrupted(f"interrupted at step {current_step(saver.model)}: saved {path}; "
                       "run the same command again to resume from it")


def fit_across_workers(model: DVMLModel, dataset, fit_callbacks: List[keras.callbacks.Callback],
                       epochs: int, initial_epoch: int, steps_per_epoch: int) -> None:
    """model.fit's loop, for MultiWorkerMirroredStrategy: Keras 3's fit first reduces an
    input batch across replicas eagerly, and its train function reduces scalar logs along
    an axis they lack, neither of which that strategy allows (keras-team/keras#20585). The
    model and its optimizer are built already; each step runs model.train_step on every
    replica, the logs are this worker's first replica's."""
    strategy = model.distribute_strategy

    @tf.function
    def train_function(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.experimental_local_results(value)[0]
                for name, value in logs.items()}

    callback_list = keras.callbacks.CallbackList(fit_callbacks, model=model)
    iterator = iter(dataset)
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()  # as fit does at each epoch
        callback_list.on_epoch_begin(epoch)
        logs = {}
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            logs = train_function(iterator)
            callback_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
