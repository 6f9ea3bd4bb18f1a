"""DVML's encoder (z_I, mu, log sigma^2) and decoder (reconstructs backbone features)."""
from tensorflow import keras
from tensorflow.keras import layers


def build_encoder(feature_dim, embedding_dim):
    """features x -> [z_I, mu, log_var], three parallel linear Dense layers."""
    features = keras.Input([feature_dim], name="features")
    z_invariant = layers.Dense(embedding_dim, name="z_invariant")(features)
    mu = layers.Dense(embedding_dim, name="mu")(features)
    log_var = layers.Dense(embedding_dim, name="log_var")(features)
    return keras.Model(features, [z_invariant, mu, log_var], name="encoder")


def build_decoder(embedding_dim, feature_dim, hidden_dim=512):
    """Synthesized sample z -> reconstructed features: Dense(tanh) then a linear Dense."""
    samples = keras.Input([embedding_dim], name="synthesized")
    hidden = layers.Dense(hidden_dim, activation="tanh", name="decoder_hidden")(samples)
    reconstruction = layers.Dense(feature_dim, name="decoder_output")(hidden)
    return keras.Model(samples, reconstruction, name="decoder")
