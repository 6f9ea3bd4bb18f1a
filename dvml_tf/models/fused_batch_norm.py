"""Batch normalisation through TensorFlow's fused kernel.

Keras 3's BatchNormalization computes its moments and normalisation op by op; on 4-D
channels-last inputs TensorFlow's fused kernel does the same in one op, forward and
backward. With the unfused layer the glyph demo's training step took 104.5 ms against
Keras 2's (fused) 88.9 ms, and the demo 218 s against 161 s (benchmarks/keras3_port.py).
Same weights, same moving-average update (the biased batch variance, as Keras 3 keeps it),
same outputs.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dvml_tf")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization, computed by tf.compat.v1.nn.fused_batch_norm on 4-D
    channels-last inputs (Keras's own computation for anything else)."""

    def call(self, inputs, training=None, mask=None):
        if (mask is not None or self.renorm or self.synchronized or len(inputs.shape) != 4
                or self.axis not in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)  # as Keras does: 16-bit inputs overflow here
        channels = x.shape[-1]
        scale = self.gamma if self.scale else tf.ones([channels])
        offset = self.beta if self.center else tf.zeros([channels])
        if training and self.trainable:
            outputs, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, epsilon=self.epsilon, is_training=True)
            count = tf.cast(tf.size(x) // channels, tf.float32)
            variance = unbiased * (count - 1.0) / count  # the kernel returns n / (n - 1) times
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1.0 - self.momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, scale, offset, mean=self.moving_mean, variance=self.moving_variance,
                epsilon=self.epsilon, is_training=False)
        return tf.cast(outputs, self.compute_dtype)
