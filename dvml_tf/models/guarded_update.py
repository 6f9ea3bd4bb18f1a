"""One optimizer step that is skipped when its loss or gradients are not finite, under any
tf.distribute strategy and with mixed-precision loss scaling.

A skipped step still advances `optimizer.iterations`, so the lambda schedule and the
input stream stay aligned with the step count. Keras's apply_gradients synchronises
replicas, which a `tf.cond` in replica context cannot contain; as Keras's own
LossScaleOptimizer does, the gradients are aggregated first and the decision is taken
in cross-replica context where the strategy needs it.
"""
from typing import Any, Callable, List, Sequence, Tuple

import tensorflow as tf

from dvml_tf.keras_api import keras
from dvml_tf.models.replicas import all_finite, replica_position


def minimize_if_finite(optimizer: keras.optimizers.Optimizer,
                       loss_fn: Callable[[], Tuple[tf.Tensor, Any]],
                       variables: Sequence[tf.Variable]) -> Tuple[Any, tf.Tensor]:
    """Runs `loss_fn() -> (loss, outputs)` under a tape and takes one step on `loss`.

    Each replica's loss is divided by the number of replicas, so gradients summed across
    replicas equal those of one replica on the whole batch. Variables without a gradient
    are left alone. Returns (outputs, finite): whether the step was applied.
    Under a LossScaleOptimizer (mixed_float16) the optimizer itself skips steps whose
    scaled gradients overflow and lowers its scale; `finite` then watches the loss.
    """
    replicas, _ = replica_position()
    loss_scaled = isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer)
    with tf.GradientTape() as tape:
        loss, outputs = loss_fn()
        replica_loss = loss / replicas
        if loss_scaled:
            replica_loss = optimizer.get_scaled_loss(replica_loss)
    gradients = tape.gradient(replica_loss, variables)
    pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
    if loss_scaled:
        unscaled = optimizer.get_unscaled_gradients([g for g, _ in pairs])
        optimizer.apply_gradients(zip(unscaled, [v for _, v in pairs]))
        return outputs, all_finite([loss])
    finite = all_finite([loss] + [g for g, _ in pairs])
    apply_if_finite(optimizer, pairs, finite)
    return outputs, finite


def apply_if_finite(optimizer: keras.optimizers.Optimizer,
                    grads_and_vars: List[Tuple[tf.Tensor, tf.Variable]],
                    finite: tf.Tensor) -> None:
    """Applies `grads_and_vars` when the scalar bool `finite` holds (same on all replicas)."""
    distributed = tf.distribute.has_strategy()
    if distributed:
        grads_and_vars = optimizer.aggregate_gradients(grads_and_vars)
    grads = [g for g, _ in grads_and_vars]
    variables = [v for _, v in grads_and_vars]

    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, variables), skip_gradients_aggregation=True)

    def skip():
        optimizer.iterations.assign_add(1, read_value=False)

    if not distributed or tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.__internal__.smart_cond.smart_cond(finite, lambda: apply(grads), skip)
        return

    def cross_replica(strategy, finite, grads):
        decision = strategy.experimental_local_results(finite)[0]
        tf.__internal__.smart_cond.smart_cond(
            decision, lambda: strategy.extended.call_for_each_replica(apply, args=(grads,)), skip)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, grads))
