"""The variational terms of DVML's loss: L1 (KL, eq. 8) and L2 (reconstruction, eq. 9)."""
import tensorflow as tf


def kl_divergence(mu: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """L1 (eq. 8, printed with its sign flipped): the batch mean of
    KL(N(mu, sigma^2 I) || N(0, I)) = sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1) / 2."""
    per_example = 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(log_var) - log_var - 1.0, axis=-1)
    return tf.reduce_mean(per_example)


def reconstruction_loss(features: tf.Tensor, reconstructions: tf.Tensor) -> tf.Tensor:
    """L2: the squared error summed over feature dims, averaged over the T x B
    reconstructions. The paper's eq. 9 is the non-squared Euclidean distance; this squared
    form is what every benchmark so far was run with.

    features: [B, F]; reconstructions: [T, B, F]. The target is a constant.
    """
    target = tf.stop_gradient(features)[tf.newaxis]
    return tf.reduce_mean(tf.reduce_sum(tf.square(target - reconstructions), axis=-1))
