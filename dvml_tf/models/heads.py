"""DVML's encoder (z_I, mu, log sigma^2) and decoder (reconstructs backbone features)."""
import keras
import tensorflow as tf
from keras import layers

# log sigma^2 stays inside (-LOG_VAR_LIMIT, LOG_VAR_LIMIT): exp() cannot overflow. Not the
# paper's, whose log sigma^2 head is linear: 10 tanh(x / 10) is within 1 % of x while
# |x| < 1.7 (sigma between 0.43 and 2.3) and keeps a non-zero gradient everywhere.
LOG_VAR_LIMIT = 10.0


@keras.saving.register_keras_serializable(package="dvml_tf")
class SoftBound(layers.Layer):
    """limit * tanh(x / limit): the identity near 0, smoothly bounded, never a dead gradient."""

    def __init__(self, limit, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def call(self, inputs):
        return self.limit * tf.tanh(inputs / self.limit)

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


def build_encoder(feature_dim: int, embedding_dim: int,
                  variance_heads_init: str = "random") -> keras.Model:
    """features x -> [z_I, mu, log_var], three parallel linear Dense layers. The mu and
    log sigma^2 kernels start random (Glorot uniform; the paper: "we randomly initialize
    all the added fully-connected layers") or, with variance_heads_init="zeros", at zero:
    the variance distribution then starts at the KL's prior N(0, I)."""
    features = keras.Input([feature_dim], name="features", dtype="float32")
    # float32 even under a mixed-precision policy: the losses are computed in float32.
    z_invariant = layers.Dense(embedding_dim, name="z_invariant", dtype="float32")(features)
    kernels = "zeros" if variance_heads_init == "zeros" else "glorot_uniform"
    mu = layers.Dense(embedding_dim, name="mu", dtype="float32",
                      kernel_initializer=kernels)(features)
    log_var = layers.Dense(embedding_dim, name="log_var", dtype="float32",
                           kernel_initializer=kernels)(features)
    log_var = SoftBound(LOG_VAR_LIMIT, name="log_var_bound", dtype="float32")(log_var)
    return keras.Model(features, [z_invariant, mu, log_var], name="encoder")


def build_decoder(embedding_dim: int, feature_dim: int, hidden_dim: int = 512) -> keras.Model:
    """Synthesized sample z -> reconstructed features: Dense(tanh) then a linear Dense."""
    samples = keras.Input([embedding_dim], name="synthesized")
    hidden = layers.Dense(hidden_dim, activation="tanh", name="decoder_hidden",
                          dtype="float32")(samples)
    reconstruction = layers.Dense(feature_dim, name="decoder_output", dtype="float32")(hidden)
    return keras.Model(samples, reconstruction, name="decoder")
