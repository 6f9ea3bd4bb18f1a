"""The variational terms of DVML's loss: L1 (KL, eq. 8) and L2 (reconstruction, eq. 9)."""
import tensorflow as tf


def kl_divergence(mu: tf.Tensor, log_var: tf.Tensor, free_bits: float = 0.0) -> tf.Tensor:
    """L1 (eq. 8, printed with its sign flipped): the batch mean of
    KL(N(mu, sigma^2 I) || N(0, I)) = sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1) / 2.

    free_bits > 0 (Kingma et al. 2016, "free bits"; not the paper's): each dimension's
    batch-mean KL counts as at least `free_bits` nats, so below that floor it costs
    nothing and puts no gradient on mu and log sigma^2.
    """
    per_dimension = tf.reduce_mean(
        0.5 * (tf.square(mu) + tf.exp(log_var) - log_var - 1.0), axis=0)
    if free_bits > 0:
        per_dimension = tf.maximum(per_dimension, free_bits)
    return tf.reduce_sum(per_dimension)


RECONSTRUCTIONS = ("distance", "squared")


def reconstruction_loss(features: tf.Tensor, reconstructions: tf.Tensor,
                        kind: str = "distance") -> tf.Tensor:
    """L2 (eq. 9): the Euclidean distance ||x - x_hat||_2 averaged over the T x B
    reconstructions; kind="squared" averages the squared error instead (what every
    benchmark before the distance was run with; its gradient is 2 ||x - x_hat|| times
    larger).

    features: [B, F]; reconstructions: [T, B, F]. The target is a constant.
    """
    target = tf.stop_gradient(features)[tf.newaxis]
    squared = tf.reduce_sum(tf.square(target - reconstructions), axis=-1)
    if kind == "squared":
        return tf.reduce_mean(squared)
    # The square root's gradient is undefined at 0: a perfect reconstruction gets none.
    zero = tf.equal(squared, 0.0)
    return tf.reduce_mean(tf.where(zero, 0.0, tf.sqrt(tf.where(zero, 1.0, squared))))
