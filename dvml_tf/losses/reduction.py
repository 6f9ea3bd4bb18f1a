"""The one reducer of the metric losses. "mean": each loss's own paper's normalisation,
the sum of its terms over the count of what that paper averages over (anchors, pairs,
active terms, proxies: each loss names its count); "sum": the terms added, as the DVML
paper's eqs. 2 and 4 print Lm (a sum over the batch's triplets)."""
import tensorflow as tf

REDUCTIONS = ("mean", "sum")


def reduce_terms(terms: tf.Tensor, counted: tf.Tensor, reduction: str) -> tf.Tensor:
    """The sum of `terms`, divided under "mean" by how many `counted` (a bool or 0/1
    tensor) hold; 0 where none does."""
    total = tf.reduce_sum(terms)
    if reduction == "sum":
        return total
    return tf.math.divide_no_nan(total, tf.reduce_sum(tf.cast(counted, total.dtype)))
