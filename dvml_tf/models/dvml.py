"""The DVML model: backbone -> encoder -> T reparameterised samples -> decoder, four losses.

Total loss L = l1*KL + l2*reconstruction + l3*Lm(synthesized) + l4*Lm(z_I), with the
two-phase lambda schedule of DVML.md. With `dvml=False` only l4*Lm(z_I) is trained
(the paper's baselines) on the identical network.
"""
import dataclasses
from typing import Tuple

import tensorflow as tf
from tensorflow import keras

from dvml_tf import losses
from dvml_tf.models.heads import build_decoder, build_encoder

LOSS_NAMES = ("kl_loss", "reconstruction_loss", "synthesized_metric_loss", "metric_loss")
PHASE1_LAMBDAS = (1.0, 1.0, 0.1, 1.0)
PHASE2_LAMBDAS = (0.8, 1.0, 0.2, 0.8)
BASELINE_LAMBDAS = (0.0, 0.0, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class DVMLSettings:
    """How the four losses are combined over training."""

    dvml: bool = True
    num_samples: int = 20
    phase1_steps: int = 0
    phase1_lambdas: Tuple[float, ...] = PHASE1_LAMBDAS
    phase2_lambdas: Tuple[float, ...] = PHASE2_LAMBDAS

    def lambdas_at(self, step):
        """(l1, l2, l3, l4) at a Python step; the same rule as the graph's."""
        if not self.dvml:
            return BASELINE_LAMBDAS
        return self.phase1_lambdas if step < self.phase1_steps else self.phase2_lambdas


def invariant_embedding(backbone, encoder, images):
    """The test-time embedding: L2-normalised z_I."""
    z_invariant, _, _ = encoder(backbone(images, training=False))
    return tf.math.l2_normalize(z_invariant, axis=-1)


class DVMLModel(keras.Model):
    """Calls to z_I; trains with DVML's losses through a custom train_step."""

    def __init__(self, backbone, encoder, decoder, metric_loss, settings, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.encoder = encoder
        self.decoder = decoder
        self.metric_loss = metric_loss
        self.settings = settings
        self.trackers = {name: keras.metrics.Mean(name) for name in ("loss",) + LOSS_NAMES}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, images, training=False):
        """z_I, unnormalised."""
        z_invariant, _, _ = self.encoder(self.backbone(images, training=training))
        return z_invariant

    def embed(self, images):
        """The test-time embedding: L2-normalised z_I."""
        return invariant_embedding(self.backbone, self.encoder, images)

    def lambdas(self, step):
        if not self.settings.dvml:
            return tf.constant(BASELINE_LAMBDAS)
        phase1 = tf.cast(step, tf.int64) < self.settings.phase1_steps
        phase1_lambdas = tf.constant(self.settings.phase1_lambdas)
        return tf.where(phase1, phase1_lambdas, tf.constant(self.settings.phase2_lambdas))

    def compute_losses(self, images, labels, step, training=True):
        """Dict of the four loss terms and the weighted total at training step `step`."""
        features = self.backbone(images, training=training)
        z_invariant, mu, log_var = self.encoder(features)
        metric = self.metric_loss.fn(z_invariant, labels)
        lambdas = self.lambdas(step)
        if not self.settings.dvml:
            zero = tf.zeros([])
            terms = {"kl_loss": zero, "reconstruction_loss": zero,
                     "synthesized_metric_loss": zero, "metric_loss": metric}
        else:
            terms = self._dvml_terms(features, z_invariant, mu, log_var, labels, step)
            terms["metric_loss"] = metric
        total = tf.add_n([lambdas[i] * terms[name] for i, name in enumerate(LOSS_NAMES)])
        return {"loss": total, **terms}

    def _dvml_terms(self, features, z_invariant, mu, log_var, labels, step):
        batch = tf.shape(z_invariant)[0]
        dim = tf.shape(z_invariant)[1]
        noise = tf.random.normal([self.settings.num_samples, batch, dim])
        # Reparameterised: gradients reach mu and log_var through every sample.
        variance_samples = mu[tf.newaxis] + tf.exp(0.5 * log_var)[tf.newaxis] * noise
        synthesized = z_invariant[tf.newaxis] + variance_samples  # [T, B, D]
        # Phase 1: the reconstruction trains the decoder only.
        phase1 = tf.cast(step, tf.int64) < self.settings.phase1_steps
        decoder_input = tf.where(phase1, tf.stop_gradient(synthesized), synthesized)
        reconstructions = self.decoder(tf.reshape(decoder_input, [-1, dim]))
        reconstructions = tf.reshape(reconstructions, [self.settings.num_samples, batch, -1])
        return {
            "kl_loss": losses.kl_divergence(mu, log_var),
            "reconstruction_loss": losses.reconstruction_loss(features, reconstructions),
            "synthesized_metric_loss": self.metric_loss.fn(synthesized[0], labels),
        }

    def train_step(self, data):
        images, labels = data
        with tf.GradientTape() as tape:
            terms = self.compute_losses(images, labels, self.optimizer.iterations, training=True)
        variables = self.trainable_variables
        gradients = tape.gradient(terms["loss"], variables)
        # Baseline mode leaves mu, log_var and the decoder without gradients.
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(gradients, variables) if g is not None
        )
        return self._track(terms)

    def test_step(self, data):
        images, labels = data
        return self._track(
            self.compute_losses(images, labels, self.optimizer.iterations, training=False)
        )

    def _track(self, terms):
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def build_dvml_model(backbone, embedding_dim, metric_loss, settings, decoder_hidden=512):
    """Assembles backbone, encoder and decoder into a built DVMLModel."""
    feature_dim = backbone.output_shape[-1]
    return DVMLModel(
        backbone,
        build_encoder(feature_dim, embedding_dim),
        build_decoder(embedding_dim, feature_dim, decoder_hidden),
        metric_loss,
        settings,
        name="dvml",
    )
