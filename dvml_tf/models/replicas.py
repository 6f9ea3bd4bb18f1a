"""What a replica of a tf.distribute strategy needs to see the global batch, and to agree
with the others."""
from typing import Sequence, Tuple

import tensorflow as tf


def replica_position() -> Tuple[int, int]:
    """(number of replicas in sync, this replica's id); (1, 0) outside a strategy."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def gather_global_batch(tensor: tf.Tensor) -> tf.Tensor:
    """The global batch: every replica's rows, in replica order.

    Built from an all-reduce of zero-padded blocks: ReplicaContext.all_gather fails
    under MultiWorkerMirroredStrategy inside Keras's train function (TF 2.15), and the
    all-reduce's gradient gives each replica the sum of every replica's gradient for
    its own rows. Replicas hold equal batches; labels go through float32 exactly.
    """
    replicas, replica = replica_position()
    if replicas == 1:
        return tensor
    rows = tf.shape(tensor)[0]
    padding = [[replica * rows, (replicas - 1 - replica) * rows]] + [[0, 0]] * (
        len(tensor.shape) - 1)
    block = tf.pad(tf.cast(tensor, tf.float32), padding)
    context = tf.distribute.get_replica_context()
    return tf.cast(context.all_reduce(tf.distribute.ReduceOp.SUM, block), tensor.dtype)


def all_finite(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """True when every tensor is finite on every replica (all replicas agree)."""
    local = tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])
    replicas, _ = replica_position()
    if replicas == 1:
        return local
    bad = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(local, tf.float32))
    return tf.equal(bad, 0.0)
