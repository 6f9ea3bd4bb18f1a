"""The DVML model: backbone -> encoder -> T reparameterised samples -> decoder, four losses.

Total loss L = l1*KL + l2*reconstruction + l3*Lm(synthesized) + l4*Lm(z_I), with the
two-phase lambda schedule of DVML.md. With `dvml=False` only l4*Lm(z_I) is trained
(the paper's baselines) on the identical network.

Under a tf.distribute strategy the metric losses mine over the global batch (embeddings
gathered from every replica) and each replica's loss is divided by the number of
replicas, so gradients summed across replicas equal those of one replica on the whole
batch. A step whose loss or gradients are not finite is skipped and counted.
"""
import dataclasses
from typing import Tuple

import tensorflow as tf
from tensorflow import keras

from dvml_tf import losses
from dvml_tf.models.guarded_update import apply_if_finite
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
    synthesized_in_metric: int = 1
    # What phase 2's reconstruction trains besides the decoder: "everything" (the paper)
    # or "variance_heads" (mu and log sigma^2 only, on held backbone features).
    phase2_reconstruction_trains: str = "everything"
    phase1_steps: int = 0
    phase1_lambdas: Tuple[float, ...] = PHASE1_LAMBDAS
    phase2_lambdas: Tuple[float, ...] = PHASE2_LAMBDAS
    seed: int = 0


def invariant_embedding(backbone, encoder, images):
    """The test-time embedding: L2-normalised z_I."""
    z_invariant, _, _ = encoder(backbone(images, training=False))
    return tf.math.l2_normalize(z_invariant, axis=-1)


def _replicas():
    """(number of replicas in sync, this replica's id)."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 1, 0
    return context.num_replicas_in_sync, context.replica_id_in_sync_group


def _gather(tensor):
    """The global batch: every replica's rows, in replica order.

    Built from an all-reduce of zero-padded blocks: ReplicaContext.all_gather fails
    under MultiWorkerMirroredStrategy inside Keras's train function (TF 2.15), and the
    all-reduce's gradient gives each replica the sum of every replica's gradient for
    its own rows. Replicas hold equal batches; labels go through float32 exactly.
    """
    replicas, replica = _replicas()
    if replicas == 1:
        return tensor
    rows = tf.shape(tensor)[0]
    padding = [[replica * rows, (replicas - 1 - replica) * rows]] + [[0, 0]] * (
        len(tensor.shape) - 1)
    block = tf.pad(tf.cast(tensor, tf.float32), padding)
    context = tf.distribute.get_replica_context()
    return tf.cast(context.all_reduce(tf.distribute.ReduceOp.SUM, block), tensor.dtype)


class DVMLModel(keras.Model):
    """Calls to z_I; trains with DVML's losses through a custom train_step."""

    def __init__(self, backbone, encoder, decoder, metric_loss, settings, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.encoder = encoder
        self.decoder = decoder
        self.metric_loss = metric_loss
        # The metric loss's own trainable variables (margin_dws's beta), tracked here.
        self.metric_loss_variables = list(metric_loss.variables)
        self.settings = settings
        self.trackers = {name: keras.metrics.Mean(name) for name in ("loss",) + LOSS_NAMES}
        counter = dict(trainable=False, dtype=tf.int64,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.skipped_steps = tf.Variable(0, name="skipped_steps", **counter)
        self.consecutive_skipped = tf.Variable(0, name="consecutive_skipped", **counter)

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
        """(l1, l2, l3, l4) at training step `step`."""
        if not self.settings.dvml:
            return tf.constant(BASELINE_LAMBDAS)
        phase1 = tf.cast(step, tf.int64) < self.settings.phase1_steps
        phase1_lambdas = tf.constant(self.settings.phase1_lambdas)
        return tf.where(phase1, phase1_lambdas, tf.constant(self.settings.phase2_lambdas))

    def compute_losses(self, images, labels, step, training=True):
        """Dict of the four loss terms and the weighted total at training step `step`.

        Metric losses see the global batch; KL and reconstruction are this replica's means.
        """
        features = tf.cast(self.backbone(images, training=training), tf.float32)
        z_invariant, mu, log_var = self.encoder(features)
        global_labels = _gather(labels)
        metric = self.metric_loss.fn(_gather(z_invariant), global_labels,
                                     self._seed(step, "metric_loss"))
        lambdas = self.lambdas(step)
        if not self.settings.dvml:
            zero = tf.zeros([])
            terms = {"kl_loss": zero, "reconstruction_loss": zero,
                     "synthesized_metric_loss": zero, "metric_loss": metric}
        else:
            terms = self._dvml_terms(features, z_invariant, mu, log_var, global_labels, step)
            terms["metric_loss"] = metric
        total = tf.add_n([lambdas[i] * terms[name] for i, name in enumerate(LOSS_NAMES)])
        return {"loss": total, **terms}

    # Purposes of the random draws of one step, each with its own stateless seed.
    SEED_PURPOSES = ("noise", "metric_loss", "synthesized_metric_loss")

    def _seed(self, step, purpose):
        """A stateless seed from (--seed, step, purpose): resumed and multi-replica runs
        draw exactly what one uninterrupted replica draws."""
        base = tf.stack([tf.constant(self.settings.seed, tf.int64), tf.cast(step, tf.int64)])
        return tf.random.experimental.stateless_fold_in(base,
                                                        self.SEED_PURPOSES.index(purpose))

    def _noise(self, step, batch, dim):
        """eps [T, batch, dim], drawn for the global batch; this replica's rows."""
        replicas, replica = _replicas()
        noise = tf.random.stateless_normal([self.settings.num_samples, batch * replicas, dim],
                                           seed=self._seed(step, "noise"))
        return noise[:, replica * batch:(replica + 1) * batch]

    def _dvml_terms(self, features, z_invariant, mu, log_var, global_labels, step):
        batch = tf.shape(z_invariant)[0]
        dim = tf.shape(z_invariant)[1]
        noise = self._noise(step, batch, dim)
        # Reparameterised: gradients reach mu and log_var through every sample.
        variance_samples = mu[tf.newaxis] + tf.exp(0.5 * log_var)[tf.newaxis] * noise
        synthesized = z_invariant[tf.newaxis] + variance_samples  # [T, B, D]
        # Phase 1: the reconstruction trains the decoder only; phase 2 also the encoder
        # and backbone, or only the variance heads.
        phase1 = tf.cast(step, tf.int64) < self.settings.phase1_steps
        phase2_input = synthesized
        if self.settings.phase2_reconstruction_trains == "variance_heads":
            _, held_mu, held_log_var = self.encoder(tf.stop_gradient(features))
            phase2_input = tf.stop_gradient(z_invariant)[tf.newaxis] + (
                held_mu[tf.newaxis] + tf.exp(0.5 * held_log_var)[tf.newaxis] * noise)
        decoder_input = tf.where(phase1, tf.stop_gradient(synthesized), phase2_input)
        reconstructions = self.decoder(tf.reshape(decoder_input, [-1, dim]))
        reconstructions = tf.reshape(reconstructions, [self.settings.num_samples, batch, -1])
        return {
            "kl_loss": losses.kl_divergence(mu, log_var),
            "reconstruction_loss": losses.reconstruction_loss(features, reconstructions),
            "synthesized_metric_loss": self._synthesized_metric_loss(synthesized, global_labels,
                                                                     step),
        }

    def _synthesized_metric_loss(self, synthesized, global_labels, step):
        """L3: the mean of Lm over the first `synthesized_in_metric` of the T samples, each
        sample index a batch of its own (one synthesized sample per real image)."""
        seed = self._seed(step, "synthesized_metric_loss")
        count = self.settings.synthesized_in_metric
        return tf.add_n([
            self.metric_loss.fn(_gather(synthesized[t]), global_labels,
                                tf.random.experimental.stateless_fold_in(seed, t))
            for t in range(count)]) / count

    def train_step(self, data):
        images, labels = data
        replicas, _ = _replicas()
        # mixed_float16: a LossScaleOptimizer, which itself skips steps whose scaled
        # gradients overflow and lowers its scale; the guard below watches the loss.
        loss_scaled = isinstance(self.optimizer, keras.mixed_precision.LossScaleOptimizer)
        with tf.GradientTape() as tape:
            terms = self.compute_losses(images, labels, self.optimizer.iterations, training=True)
            replica_loss = terms["loss"] / replicas
            if loss_scaled:
                replica_loss = self.optimizer.get_scaled_loss(replica_loss)
        variables = self.trainable_variables
        gradients = tape.gradient(replica_loss, variables)
        # Baseline mode leaves mu, log_var and the decoder without gradients.
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if loss_scaled:
            unscaled = self.optimizer.get_unscaled_gradients([g for g, _ in pairs])
            pairs = list(zip(unscaled, [v for _, v in pairs]))
        watched = [terms["loss"]] if loss_scaled else [terms["loss"]] + [g for g, _ in pairs]
        finite = self._all_finite(watched)
        if loss_scaled:
            self.optimizer.apply_gradients(pairs)
        else:
            apply_if_finite(self.optimizer, pairs, finite)
        self.skipped_steps.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
        self.consecutive_skipped.assign(
            tf.where(finite, tf.constant(0, tf.int64), self.consecutive_skipped + 1))
        return self._track(terms, finite)

    @staticmethod
    def _all_finite(tensors):
        """True when every tensor is finite on every replica (all replicas agree)."""
        local = tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])
        replicas, _ = _replicas()
        if replicas == 1:
            return local
        bad = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(local, tf.float32))
        return tf.equal(bad, 0.0)

    def test_step(self, data):
        images, labels = data
        terms = self.compute_losses(images, labels, self.optimizer.iterations, training=False)
        return self._track(terms, tf.constant(True))

    def _track(self, terms, finite):
        weight = tf.cast(finite, tf.float32)
        for name, value in terms.items():
            self.trackers[name].update_state(tf.where(finite, value, 0.0), sample_weight=weight)
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
