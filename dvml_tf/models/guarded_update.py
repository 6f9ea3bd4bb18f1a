"""One optimizer step that is skipped when its loss or gradients are not finite, under any
tf.distribute strategy and with mixed-precision loss scaling (Keras 3).

Keras's optimizer all-reduces the gradients itself inside `apply`, which synchronises
replicas; so the decision is taken on a flag all replicas agree on, and, where the strategy
needs merge calls, in cross-replica context, as Keras's own LossScaleOptimizer does. A
skipped step leaves `optimizer.iterations` as it was: the model counts its steps itself.
"""
from typing import Any, Callable, Sequence, Tuple

import keras
import tensorflow as tf

from dvml_tf.models.replicas import all_finite, replica_position


def minimize_if_finite(optimizer: keras.optimizers.Optimizer,
                       loss_fn: Callable[[], Tuple[tf.Tensor, Any]],
                       variables: Sequence[keras.Variable]) -> Tuple[Any, tf.Tensor]:
    """Runs `loss_fn() -> (loss, outputs)` under a tape and takes one step on `loss`.

    Each replica's loss is divided by the number of replicas, so gradients summed across
    replicas equal those of one replica on the whole batch. Variables without a gradient
    are left alone. Returns (outputs, finite): whether the step was applied.
    Under a LossScaleOptimizer (mixed_float16) the optimizer itself skips steps whose
    scaled gradients overflow and lowers its scale (its search for a scale, not a fault);
    `finite` then watches the loss.
    """
    replicas, _ = replica_position()
    loss_scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    with tf.GradientTape() as tape:
        loss, outputs = loss_fn()
        replica_loss = loss / replicas
        if loss_scaled:
            replica_loss = optimizer.scale_loss(replica_loss)
    gradients = tape.gradient(replica_loss, variables)
    pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
    grads, trained = [g for g, _ in pairs], [v for _, v in pairs]
    if loss_scaled:
        optimizer.apply(grads, trained)
        return outputs, all_finite([loss])
    finite = all_finite([loss] + grads)
    apply_if_finite(optimizer, grads, trained, finite)
    return outputs, finite


def apply_if_finite(optimizer: keras.optimizers.Optimizer, grads: Sequence[tf.Tensor],
                    variables: Sequence[keras.Variable], finite: tf.Tensor) -> None:
    """Applies `grads` to `variables` when the scalar bool `finite` holds (the same on all
    replicas)."""

    def apply(gradients):
        optimizer.apply(gradients, variables)

    if (not tf.distribute.has_strategy()
            or tf.__internal__.distribute.strategy_supports_no_merge_call()):
        tf.cond(finite, lambda: apply(grads), lambda: None)
        return

    def cross_replica(strategy, finite, grads):
        decision = strategy.experimental_local_results(finite)[0]
        tf.cond(decision, lambda: strategy.extended.call_for_each_replica(apply, args=(grads,)),
                lambda: None)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(finite, grads))
