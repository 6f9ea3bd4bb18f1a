"""The metric losses Lm of L3 and L4 (Lin et al. 2018, eqs. 2-4) by name.

Batches are P classes x K images, class-contiguous. The triplet, N-pair, lifted and
contrastive losses call TF-Addons or the package's own (backend.py, standard.py);
margin_dws is the package's own (margin_dws.py).
To add a loss: write its function (embeddings [B, D], labels [B], seed [2]) -> scalar
and give it a line in `_LOSSES`; the flag --metric_loss offers every name there.
"""
from typing import Callable, NamedTuple, Optional

import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.backend import loss_functions
from dvml_tf.losses.margin_dws import INITIAL_BETA, margin_dws_loss


class MetricLoss(NamedTuple):
    """A metric loss Lm(embeddings [B, D], labels [B], seed [2]) -> scalar.

    `seed` feeds losses that sample (stateless, so resumed runs sample alike);
    `variables` are the loss's own trainable variables (margin_dws's boundary beta).
    """

    fn: Callable
    variables: tuple = ()


def _triplet(triplet_fn, margin):
    """The paper's eq. 2: squared L2 distances of unit vectors (TF-Addons' default is
    the non-squared distance)."""

    def loss(embeddings, labels, seed=None):
        return triplet_fn(labels, tf.math.l2_normalize(embeddings, axis=-1), margin=margin,
                          distance_metric="squared-L2")

    return loss


def _npairs(npairs_fn, images_per_class, l2_reg):
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
        return npairs_fn(anchor_labels, similarity) + penalty

    return loss


def _lifted(lifted_fn, margin):
    """Song et al.'s lifted structured loss on the raw embeddings."""

    def loss(embeddings, labels, seed=None):
        return lifted_fn(labels, embeddings, margin=margin)

    return loss


def _contrastive(contrastive_fn, margin):
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
        per_pair = contrastive_fn(same, distances, margin=margin)
        positive = tf.math.divide_no_nan(tf.reduce_sum(per_pair * same), tf.reduce_sum(same))
        negative = tf.math.divide_no_nan(
            tf.reduce_sum(per_pair * (1.0 - same)), tf.reduce_sum(1.0 - same)
        )
        return positive + negative

    return loss


def _margin_dws(margin):
    beta = tf.Variable(INITIAL_BETA, name="margin_dws_beta")
    return MetricLoss(margin_dws_loss(margin, beta), (beta,))


# name -> (margin when --margin is not given,
#          builder(functions of the backend, margin, images_per_class, l2_reg)).
# Default margins: triplet on unit vectors (squared distances in [0, 4]), contrastive on
# unit-vector distances in [0, 2], lifted on raw embeddings as TF-Addons' default.
_LOSSES = {
    "triplet_semihard": (0.2, lambda fns, margin, k, l2: MetricLoss(
        _triplet(fns.triplet_semihard_loss, margin))),
    "triplet_hard": (0.2, lambda fns, margin, k, l2: MetricLoss(
        _triplet(fns.triplet_hard_loss, margin))),
    "npairs": (None, lambda fns, margin, k, l2: MetricLoss(_npairs(fns.npairs_loss, k, l2))),
    "lifted": (1.0, lambda fns, margin, k, l2: MetricLoss(
        _lifted(fns.lifted_struct_loss, margin))),
    "contrastive": (0.5, lambda fns, margin, k, l2: MetricLoss(
        _contrastive(fns.contrastive_loss, margin))),
    "margin_dws": (0.2, lambda fns, margin, k, l2: _margin_dws(margin)),
}
METRIC_LOSSES = tuple(_LOSSES)


def make_metric_loss(name: str, margin: Optional[float] = None, images_per_class: int = 2,
                     npairs_l2_reg: float = 0.002, backend: str = "auto") -> MetricLoss:
    """Builds the named metric loss; batches are P classes x K images, class-contiguous.
    `backend` (auto, tfa, own) picks who computes the standard losses (backend.py)."""
    if name not in _LOSSES:
        raise UserError(f"--metric_loss={name} is unknown; choose one of "
                        f"{', '.join(METRIC_LOSSES)}")
    default_margin, build = _LOSSES[name]
    return build(loss_functions(backend), default_margin if margin is None else margin,
                 images_per_class, npairs_l2_reg)
