"""DVML's loss terms: KL (L1), reconstruction (L2) and the metric losses (L3, L4).

Metric losses come from TensorFlow Addons, each fed the input it expects:
triplet losses take L2-normalised embeddings and squared distances, N-pair takes the [P, P]
anchor-positive similarity matrix, lifted takes raw embeddings, contrastive takes
pair labels and pair distances.
"""
from typing import Callable, NamedTuple

import tensorflow as tf
import tensorflow_addons as tfa

from dvml_tf.errors import UserError

METRIC_LOSSES = ("triplet_semihard", "triplet_hard", "npairs", "lifted", "contrastive",
                 "margin_dws")


def kl_divergence(mu, log_var):
    """L1: mean over the batch of KL(N(mu, sigma^2 I) || N(0, I))."""
    per_example = 0.5 * tf.reduce_sum(tf.square(mu) + tf.exp(log_var) - log_var - 1.0, axis=-1)
    return tf.reduce_mean(per_example)


def reconstruction_loss(features, reconstructions):
    """L2: squared error summed over feature dims, averaged over the T x B reconstructions.

    features: [B, F]; reconstructions: [T, B, F]. The target is a constant.
    """
    target = tf.stop_gradient(features)[tf.newaxis]
    return tf.reduce_mean(tf.reduce_sum(tf.square(target - reconstructions), axis=-1))


class MetricLoss(NamedTuple):
    """A metric loss Lm(embeddings [B, D], labels [B], seed [2]) -> scalar.

    `seed` feeds losses that sample (stateless, so resumed runs sample alike);
    `variables` are the loss's own trainable variables (margin_dws's boundary beta).
    """

    name: str
    fn: Callable
    variables: tuple = ()


def _triplet(tfa_fn, margin):
    """The paper's eq. 2: squared L2 distances of unit vectors (TF-Addons' default is
    the non-squared distance)."""

    def loss(embeddings, labels, seed=None):
        return tfa_fn(labels, tf.math.l2_normalize(embeddings, axis=-1), margin=margin,
                      distance_metric="squared-L2")

    return loss


def _npairs(images_per_class, l2_reg):
    """Sohn's N-pair loss on the first two images of each class in a P x K batch."""

    def loss(embeddings, labels, seed=None):
        grouped = tf.reshape(embeddings, [-1, images_per_class, tf.shape(embeddings)[-1]])
        anchors, positives = grouped[:, 0], grouped[:, 1]
        anchor_labels = tf.reshape(labels, [-1, images_per_class])[:, 0]
        similarity = tf.matmul(anchors, positives, transpose_b=True)
        penalty = 0.25 * l2_reg * (
            tf.reduce_mean(tf.reduce_sum(tf.square(anchors), 1))
            + tf.reduce_mean(tf.reduce_sum(tf.square(positives), 1))
        )
        return tfa.losses.npairs_loss(anchor_labels, similarity) + penalty

    return loss


def _lifted(margin):
    def loss(embeddings, labels, seed=None):
        return tfa.losses.lifted_struct_loss(labels, embeddings, margin=margin)

    return loss


def _contrastive(margin):
    """Contrastive loss over all pairs i < j of normalised embeddings, positives and
    negatives averaged separately so the many negatives do not drown the positives."""

    def loss(embeddings, labels, seed=None):
        normalized = tf.math.l2_normalize(embeddings, axis=-1)
        n = tf.shape(normalized)[0]
        rows, cols = tf.meshgrid(tf.range(n), tf.range(n), indexing="ij")
        upper = rows < cols
        first, second = tf.boolean_mask(rows, upper), tf.boolean_mask(cols, upper)
        diff = tf.gather(normalized, first) - tf.gather(normalized, second)
        distances = tf.sqrt(tf.reduce_sum(tf.square(diff), -1) + 1e-12)
        same = tf.cast(tf.equal(tf.gather(labels, first), tf.gather(labels, second)), tf.float32)
        per_pair = tfa.losses.contrastive_loss(same, distances, margin=margin)
        positive = tf.math.divide_no_nan(tf.reduce_sum(per_pair * same), tf.reduce_sum(same))
        negative = tf.math.divide_no_nan(
            tf.reduce_sum(per_pair * (1.0 - same)), tf.reduce_sum(1.0 - same)
        )
        return positive + negative

    return loss


def pairwise_distances(unit_embeddings):
    """Euclidean distances [B, B] between unit vectors, computed stably."""
    similarity = tf.matmul(unit_embeddings, unit_embeddings, transpose_b=True)
    return tf.sqrt(tf.maximum(2.0 - 2.0 * similarity, 1e-12))


def negative_log_weights(distances, labels, dim, cutoff=0.5, nonzero_loss_cutoff=1.4):
    """Logits [B, B] of drawing each negative for each anchor (Wu et al. 2017, eq. 4).

    A negative at distance d is drawn with probability ~ 1/q(d), where
    q(d) ~ d^(n-2) (1 - d^2/4)^((n-3)/2) is the density of distances between uniform
    points on the unit sphere in n = `dim` dimensions; d is clipped below at `cutoff`
    and negatives at `nonzero_loss_cutoff` or farther are never drawn (a row without
    such a negative draws uniformly among its negatives).
    """
    n = tf.cast(dim, tf.float32)
    clipped = tf.maximum(distances, cutoff)
    log_q = (n - 2.0) * tf.math.log(clipped) + (n - 3.0) / 2.0 * tf.math.log(
        tf.maximum(1.0 - 0.25 * tf.square(clipped), 1e-8))
    negative = tf.not_equal(labels[:, None], labels[None, :])
    allowed = negative & (distances < nonzero_loss_cutoff)
    weighted = tf.where(allowed, -log_q, -1e30)
    weighted -= tf.reduce_max(weighted, axis=1, keepdims=True)
    uniform = tf.where(negative, 0.0, -1e30)
    return tf.where(tf.reduce_any(allowed, axis=1, keepdims=True), weighted, uniform)


def _margin_dws(margin, beta):
    """Wu et al.'s margin loss on non-squared distances of unit vectors, with a learned
    boundary beta. Every positive pair (i, j) contributes relu(margin + d_ij - beta), and
    one negative n drawn for it by distance-weighted sampling relu(margin + beta - d_in);
    the sum is averaged over the terms that are non-zero."""

    def loss(embeddings, labels, seed=None):
        unit = tf.math.l2_normalize(embeddings, axis=-1)
        distances = pairwise_distances(unit)
        batch = tf.shape(unit)[0]
        seed = tf.zeros([2], tf.int64) if seed is None else tf.cast(seed, tf.int64)
        logits = negative_log_weights(distances, labels, tf.shape(unit)[1])
        # Column j of row i: the negative drawn for the pair (i, j).
        negatives = tf.random.stateless_categorical(logits, batch, seed, dtype=tf.int32)
        negative_distances = tf.gather(distances, negatives, batch_dims=1)
        rows = tf.range(batch)
        positive = tf.equal(labels[:, None], labels[None, :]) & tf.not_equal(
            rows[:, None], rows[None, :])
        mask = tf.cast(positive, tf.float32)
        positive_loss = tf.nn.relu(margin + distances - beta) * mask
        negative_loss = tf.nn.relu(margin + beta - negative_distances) * mask
        active = tf.reduce_sum(tf.cast(positive_loss > 0, tf.float32)
                               + tf.cast(negative_loss > 0, tf.float32))
        return tf.reduce_sum(positive_loss + negative_loss) / tf.maximum(active, 1.0)

    return loss


# Margins used when --margin is not given: triplet on unit vectors (squared
# distances in [0, 4]), contrastive on unit-vector distances in [0, 2], lifted on raw
# embeddings as TF-Addons' default.
DEFAULT_MARGINS = {"triplet_semihard": 0.2, "triplet_hard": 0.2, "lifted": 1.0, "contrastive": 0.5,
                   "margin_dws": 0.2}
# Wu et al.'s initial boundary between positive and negative distances.
MARGIN_DWS_BETA = 1.2


def make_metric_loss(name, margin=None, images_per_class=2, npairs_l2_reg=0.002):
    """Builds the named metric loss; batches are P classes x K images, class-contiguous."""
    if margin is None:
        margin = DEFAULT_MARGINS.get(name)
    builders = {
        "triplet_semihard": lambda: _triplet(tfa.losses.triplet_semihard_loss, margin),
        "triplet_hard": lambda: _triplet(tfa.losses.triplet_hard_loss, margin),
        "npairs": lambda: _npairs(images_per_class, npairs_l2_reg),
        "lifted": lambda: _lifted(margin),
        "contrastive": lambda: _contrastive(margin),
    }
    if name == "margin_dws":
        beta = tf.Variable(MARGIN_DWS_BETA, name="margin_dws_beta")
        return MetricLoss(name, _margin_dws(margin, beta), (beta,))
    if name not in builders:
        raise UserError(f"--metric_loss={name} is unknown; choose one of "
                        f"{', '.join(METRIC_LOSSES)}")
    return MetricLoss(name, builders[name]())
