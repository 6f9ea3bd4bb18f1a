"""Apply an optimizer step only when it is finite, under any tf.distribute strategy.

A skipped step still advances `optimizer.iterations`, so the lambda schedule and the
input stream stay aligned with the step count. Keras's apply_gradients synchronises
replicas, which a `tf.cond` in replica context cannot contain; as Keras's own
LossScaleOptimizer does, the gradients are aggregated first and the decision is taken
in cross-replica context where the strategy needs it.
"""
import tensorflow as tf


def apply_if_finite(optimizer, grads_and_vars, finite):
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
