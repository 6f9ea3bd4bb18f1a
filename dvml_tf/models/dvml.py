"""The DVML model (Lin et al. 2018): backbone -> encoder -> T reparameterised samples ->
decoder, trained on four loss terms.

L = l1 * L1 (KL, eq. 8) + l2 * L2 (reconstruction, eq. 9)
  + l3 * L3 (metric loss of the synthesized samples) + l4 * L4 (metric loss of z_I),
with the paper's two-phase lambda schedule (Sec. 3.5). With `dvml=False` only l4 * L4 is
trained (the paper's baselines) on the identical network.

Under a tf.distribute strategy the metric losses mine over the global batch (embeddings
gathered from every replica); KL and reconstruction are each replica's means; a
cross-batch memory (XBM), where the loss has one, receives the global batch's z_I after
each step. A step whose loss or gradients are not finite is skipped and counted
(guarded_update.py); the model's own step counter `steps_taken` counts it still, so the
lambda schedule and the input stream stay aligned (Keras 3's optimizer.iterations does not
advance on a skip).
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from dvml_tf.losses.variational import kl_divergence, reconstruction_loss
from dvml_tf.models.guarded_update import minimize_if_finite
from dvml_tf.models.heads import build_decoder, build_encoder
from dvml_tf.models.metric_loss_layer import MetricLossLayer
from dvml_tf.models.replicas import gather_global_batch, replica_position

# The four terms in the order of their lambdas, as TensorBoard names them.
LOSS_NAMES = ("kl_loss", "reconstruction_loss", "synthesized_metric_loss", "metric_loss")
BASELINE_LAMBDAS = (0.0, 0.0, 0.0, 1.0)
# A training batch of ({FEATURES_KEY: outputs}, labels) holds, in place of the images, what
# the frozen part of the backbone made of them (feature_cache.py): the features themselves
# when all of it is frozen, the input of DVMLModel.backbone_top when only that part trains.
FEATURES_KEY = "backbone_features"
# Purposes of the random draws of one step, each with its own stateless seed.
SEED_PURPOSES = ("noise", "metric_loss", "synthesized_metric_loss")


def synthesize(z_invariant: tf.Tensor, mu: tf.Tensor, log_var: tf.Tensor,
               noise: tf.Tensor) -> tf.Tensor:
    """The synthesized samples z_I + z_V [T, B, D], z_V = mu + sigma * eps for each of the
    T draws eps in `noise` (reparameterised: gradients reach mu and log sigma^2)."""
    variance_samples = mu[tf.newaxis] + tf.exp(0.5 * log_var)[tf.newaxis] * noise
    return z_invariant[tf.newaxis] + variance_samples


@dataclasses.dataclass(frozen=True)
class DVMLSettings:
    """How the four losses are combined over training."""

    dvml: bool
    reconstruction: str  # "distance" (eq. 9) or "squared"
    num_samples: int
    synthesized_in_metric: int
    kl_free_bits: float  # nats per dimension below which the KL is free (0: the paper)
    normalize_synthesized: bool  # L3 on L2-normalised synthesized samples (not the paper)
    # What phase 2's reconstruction trains besides the decoder: "everything" (the paper)
    # or "variance_heads" (mu and log sigma^2 only, on held backbone features).
    phase2_reconstruction_trains: str
    phase1_steps: int
    phase1_lambdas: Tuple[float, ...]
    phase2_lambdas: Tuple[float, ...]
    seed: int


@keras.saving.register_keras_serializable(package="dvml_tf")
class DVMLModel(keras.Model):
    """Calls to z_I; trains with DVML's losses through a custom train_step. Saves to
    `.keras` (its parts, settings, weights, counters and optimizer) and loads back."""

    def __init__(self, backbone: keras.Model, encoder: keras.Model, decoder: keras.Model,
                 metric_loss: MetricLossLayer, settings: DVMLSettings,
                 backbone_top: Optional[keras.Model] = None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        # --fine_tune_from: the backbone's trained part (its layers are the backbone's).
        self.backbone_top = backbone_top
        self.encoder = encoder
        self.decoder = decoder
        # A layer, so that its own variables (margin_dws's beta, the proxies) train and its
        # cross-batch memory is checkpointed.
        self.metric_loss = metric_loss
        self.settings = settings
        self.trackers = {name: keras.metrics.Mean(name) for name in ("loss",) + LOSS_NAMES}
        # Training steps taken, skipped ones included; the ones skipped in all and in a row.
        self.steps_taken = _counter("steps_taken")
        self.skipped_steps = _counter("skipped_steps")
        self.consecutive_skipped = _counter("consecutive_skipped")
        # Its parts are built models: Keras need not build it from a batch (which a
        # multi-worker batch cannot be turned into).
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def get_config(self):
        parts = {name: keras.saving.serialize_keras_object(getattr(self, name))
                 for name in ("backbone", "encoder", "decoder", "metric_loss")}
        top = self.backbone_top
        return {**super().get_config(), **parts,
                "settings": dataclasses.asdict(self.settings),
                "backbone_top": top and keras.saving.serialize_keras_object(top)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in ("backbone", "encoder", "decoder", "metric_loss", "backbone_top"):
            if config.get(name) is not None:
                config[name] = keras.saving.deserialize_keras_object(config[name])
        settings = dict(config.pop("settings"))
        for name in ("phase1_lambdas", "phase2_lambdas"):
            settings[name] = tuple(settings[name])
        return cls(settings=DVMLSettings(**settings), **config)

    def non_finite_weights(self) -> List[str]:
        """The paths of the float variables holding a NaN or an infinity: a model that must
        not be checkpointed, resumed or exported."""
        return [v.path for v in self.variables
                if v.dtype.startswith("float") and not np.all(np.isfinite(v.numpy()))]

    def features_of(self, inputs, training: bool = False) -> tf.Tensor:
        """The backbone's features x [B, F] float32 of images, or of {FEATURES_KEY: the
        frozen part's cached output}."""
        if not isinstance(inputs, dict):
            return tf.cast(self.backbone(inputs, training=training), tf.float32)
        cached = inputs[FEATURES_KEY]
        if self.backbone_top is not None:
            cached = self.backbone_top(cached, training=training)
        return tf.cast(cached, tf.float32)

    def encode(self, images: tf.Tensor,
               training: bool = False) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(z_I, mu, log sigma^2) of images, each [B, D] float32: the backbone features x
        through the encoder's three heads."""
        return self.encoder(self.backbone(images, training=training))

    def call(self, images, training=False):
        """z_I, unnormalised."""
        return self.encode(images, training)[0]

    def embed(self, images: tf.Tensor) -> tf.Tensor:
        """The test-time embedding: L2-normalised z_I."""
        return self.embed_with_variance(images)[0]

    def embed_with_variance(self, images: tf.Tensor
                            ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """(the test-time embedding, z_I, mu, log sigma^2) in one pass."""
        z_invariant, mu, log_var = self.encode(images)
        return tf.math.l2_normalize(z_invariant, axis=-1), z_invariant, mu, log_var

    def in_phase1(self, step: tf.Tensor) -> tf.Tensor:
        """Whether training step `step` is in phase 1, where the reconstruction trains
        the decoder alone."""
        return tf.cast(step, tf.int64) < self.settings.phase1_steps

    def lambdas(self, step: tf.Tensor) -> tf.Tensor:
        """(l1, l2, l3, l4) at training step `step`."""
        if not self.settings.dvml:
            return tf.constant(BASELINE_LAMBDAS)
        return tf.where(self.in_phase1(step), tf.constant(self.settings.phase1_lambdas),
                        tf.constant(self.settings.phase2_lambdas))

    def compute_losses(self, images: tf.Tensor, labels: tf.Tensor, step: tf.Tensor,
                       training: bool = True) -> Dict[str, tf.Tensor]:
        """The four loss terms and their weighted total ("loss") at training step `step`."""
        return self.losses_and_embeddings(images, labels, step, training)[0]

    def losses_and_embeddings(self, images: tf.Tensor, labels: tf.Tensor, step: tf.Tensor,
                              training: bool = True) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        """compute_losses, and the z_I [B, D] they were computed from."""
        features = self.features_of(images, training)
        heads = self.encoder(features)
        return self.losses_of_features(features, heads, labels, step), heads[0]

    def losses_of_features(self, features: tf.Tensor, heads: Sequence[tf.Tensor],
                           labels: tf.Tensor, step: tf.Tensor) -> Dict[str, tf.Tensor]:
        """compute_losses from the backbone's features and the encoder's (z_I, mu,
        log sigma^2) of them."""
        z_invariant, mu, log_var = heads
        global_labels = gather_global_batch(labels)
        terms = dict.fromkeys(LOSS_NAMES, tf.zeros([]))
        # L4: the metric loss of the real embeddings.
        global_z = gather_global_batch(z_invariant)
        terms["metric_loss"] = self.metric_loss.compute(
            global_z, global_labels, self._seed(step, "metric_loss"), step)
        if self.settings.dvml:
            noise = self._noise(step, tf.shape(z_invariant)[0], tf.shape(z_invariant)[1])
            synthesized = synthesize(z_invariant, mu, log_var, noise)
            terms["kl_loss"] = kl_divergence(mu, log_var, self.settings.kl_free_bits)
            terms["reconstruction_loss"] = reconstruction_loss(
                features, self._reconstruct(features, z_invariant, synthesized, noise, step),
                self.settings.reconstruction)
            terms["synthesized_metric_loss"] = self._synthesized_metric_loss(
                synthesized, global_z, global_labels, step)
        lambdas = self.lambdas(step)
        total = tf.add_n([lambdas[i] * terms[name] for i, name in enumerate(LOSS_NAMES)])
        return {"loss": total, **terms}

    def variance_probe(self, images: tf.Tensor, labels: tf.Tensor, step: tf.Tensor
                       ) -> Tuple[Sequence[tf.Tensor], tf.Tensor,
                                  Dict[str, Tuple[tf.Tensor, tf.Tensor]]]:
        """What the variance branch does on `images` at training step `step`, in one pass
        through the backbone (in inference mode): the encoder's heads (z_I, mu,
        log sigma^2), each image's first synthesized sample as that step draws it, and per
        loss term the norms of the gradients its weighted value (lambda times the term)
        puts on log sigma^2 and on the backbone's output x."""
        features = tf.cast(self.backbone(images, training=False), tf.float32)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(features)
            heads = self.encoder(features)
            terms = self.losses_of_features(features, heads, labels, step)
            lambdas = self.lambdas(step)
            weighted = {name: lambdas[i] * terms[name] for i, name in enumerate(LOSS_NAMES)}
        norms = {}
        for name, value in weighted.items():
            gradients = tape.gradient(value, [heads[2], features],
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            norms[name] = tuple(tf.norm(g) for g in gradients)
        del tape
        z_invariant = heads[0]
        noise = self._noise(step, tf.shape(z_invariant)[0], tf.shape(z_invariant)[1])
        return heads, synthesize(*heads, noise)[0], norms

    def _seed(self, step, purpose):
        """A stateless seed from (--seed, step, purpose): resumed and multi-replica runs
        draw exactly what one uninterrupted replica draws."""
        base = tf.stack([tf.constant(self.settings.seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.random.experimental.stateless_fold_in(base, SEED_PURPOSES.index(purpose))

    def _noise(self, step, batch, dim):
        """eps [T, batch, dim], drawn for the global batch; this replica's rows."""
        replicas, replica = replica_position()
        noise = tf.random.stateless_normal([self.settings.num_samples, batch * replicas, dim],
                                           seed=self._seed(step, "noise"))
        return noise[:, replica * batch:(replica + 1) * batch]

    def _reconstruct(self, features, z_invariant, synthesized, noise, step):
        """The decoder's reconstructions [T, B, F] of the synthesized samples. Phase 1 cuts
        the reconstruction's gradient off the encoder; phase 2 lets it reach the encoder and
        backbone, or, with phase2_reconstruction_trains="variance_heads", only mu and
        log sigma^2 (computed again from held features, around a held z_I)."""
        phase2_input = synthesized
        if self.settings.phase2_reconstruction_trains == "variance_heads":
            _, held_mu, held_log_var = self.encoder(tf.stop_gradient(features))
            phase2_input = synthesize(tf.stop_gradient(z_invariant), held_mu, held_log_var,
                                      noise)
        decoder_input = tf.where(self.in_phase1(step), tf.stop_gradient(synthesized),
                                 phase2_input)
        samples, batch, dim = tf.unstack(tf.shape(synthesized))
        reconstructions = self.decoder(tf.reshape(decoder_input, [-1, dim]))
        return tf.reshape(reconstructions, [samples, batch, -1])

    def _synthesized_metric_loss(self, synthesized, global_z, global_labels, step):
        """L3: the mean of Lm over the first `synthesized_in_metric` of the T samples, each
        sample index a batch of its own (one synthesized sample per real image), the
        samples L2-normalised first where the settings ask. A cross-batch memory holds the
        step's real embeddings `global_z`, not the samples."""
        seed = self._seed(step, "synthesized_metric_loss")
        count = self.settings.synthesized_in_metric
        if self.settings.normalize_synthesized:
            synthesized = tf.math.l2_normalize(synthesized, axis=-1)
        return tf.add_n([
            self.metric_loss.compute(gather_global_batch(synthesized[t]), global_labels,
                                     tf.random.experimental.stateless_fold_in(seed, t), step,
                                     joining=(global_z, global_labels))
            for t in range(count)]) / count

    def train_step(self, data):
        images, labels = data
        step = self.steps_taken.value

        def loss_fn():
            terms, z_invariant = self.losses_and_embeddings(images, labels, step)
            return terms["loss"], (terms, z_invariant)

        (terms, z_invariant), finite = minimize_if_finite(self.optimizer, loss_fn,
                                                          self.trainable_variables)
        # XBM: the step's real embeddings join the memory after its loss (not if skipped).
        self.metric_loss.remember(gather_global_batch(z_invariant), gather_global_batch(labels),
                                  step, finite)
        self.steps_taken.assign_add(1)
        self.skipped_steps.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
        self.consecutive_skipped.assign(
            tf.where(finite, tf.constant(0, tf.int64), self.consecutive_skipped + 1))
        weight = tf.cast(finite, tf.float32)
        for name, value in terms.items():
            self.trackers[name].update_state(tf.where(finite, value, 0.0), sample_weight=weight)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def require_dvml_model(model: object) -> None:
    """TypeError, naming the argument, unless `model` is a DVMLModel (the Python API)."""
    if not isinstance(model, DVMLModel):
        raise TypeError(f"model: a dvml_tf DVMLModel (dvml_tf.dvml_model), not "
                        f"{type(model).__name__}")


def _counter(name: str) -> keras.Variable:
    """A step counter: int64, not trained, kept by the first replica."""
    return keras.Variable(0, dtype="int64", trainable=False, name=name,
                          aggregation="only_first_replica")


def build_dvml_model(backbone: keras.Model, embedding_dim: int, metric_loss: MetricLossLayer,
                     settings: DVMLSettings, decoder_hidden: int = 512,
                     variance_heads_init: str = "random",
                     backbone_top: Optional[keras.Model] = None) -> DVMLModel:
    """Assembles backbone, encoder and decoder into a DVMLModel."""
    feature_dim = backbone.output_shape[-1]
    return DVMLModel(
        backbone,
        build_encoder(feature_dim, embedding_dim, variance_heads_init),
        build_decoder(embedding_dim, feature_dim, decoder_hidden),
        metric_loss,
        settings,
        backbone_top,
        name="dvml",
    )
