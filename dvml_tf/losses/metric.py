"""The metric losses Lm of L3 and L4 (Lin et al. 2018, eqs. 2-4) by name.

Batches are P classes x K images, class-contiguous. The triplet, N-pair, lifted and
contrastive losses call TF-Addons or the package's own (backend.py, standard.py);
margin_dws, proxy_nca and angular are the package's own.
Reduction: "mean" averages each loss over its terms, as TF-Addons does; "sum" adds them,
as eqs. 2 and 4 are printed (a sum over the batch's triplets), which weighs Lm against
the KL and the reconstruction about (number of terms) times more. N-pair's eq. 3 is
printed as a mean; "sum" adds its anchors' terms too.
To add a loss: write its builder (functions of the backend, LossOptions) -> MetricLoss
whose fn is (embeddings [B, D], labels [B], seed [2]) -> scalar, and give it a line in
`_LOSSES`; the flag --metric_loss offers every name there.
"""
from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.angular import angular_terms
from dvml_tf.losses.backend import loss_functions
from dvml_tf.losses.margin_dws import INITIAL_BETA, margin_dws_loss
from dvml_tf.losses.proxy_nca import initial_proxies, proxy_nca_terms

REDUCTIONS = ("mean", "sum")


class MetricLoss(NamedTuple):
    """A metric loss Lm(embeddings [B, D], labels [B], seed [2]) -> scalar.

    `seed` feeds losses that sample (stateless, so resumed runs sample alike);
    `variables` are the loss's own trainable variables (margin_dws's boundary beta,
    proxy_nca's proxies), made by the builder's `make_variable`.
    """

    fn: Callable
    variables: tuple = ()


class LossOptions(NamedTuple):
    """What a loss builder needs besides the backend's functions."""

    margin: float
    images_per_class: int
    npairs_l2_reg: float
    reduction: str
    num_proxies: int
    embedding_dim: int
    # (name, initial value as a float32 array) -> a trainable variable: tf.Variable in
    # Keras-free code, a Keras layer's add_weight in a model (Keras 3 trains only its own).
    make_variable: Callable


def plain_variable(name: str, initial: np.ndarray) -> tf.Variable:
    """A trainable tf.Variable: the variables of a loss used without Keras."""
    return tf.Variable(initial, name=name)


def _reduced(mean_fn, count_fn, reduction):
    """`mean_fn` (a loss averaged over its terms), or its sum: mean times the number of
    terms count_fn(labels) it averages over."""
    if reduction == "mean":
        return mean_fn

    def loss(embeddings, labels, seed=None):
        return mean_fn(embeddings, labels, seed) * tf.cast(count_fn(labels), tf.float32)

    return loss


def _sum_or_mean(terms, reduction):
    """A loss of per-item terms, reduced as `reduction` says."""
    return tf.reduce_sum(terms) if reduction == "sum" else tf.reduce_mean(terms)


def _ordered_positive_pairs(labels):
    """The number of ordered pairs (i, j), i != j, of one class."""
    same = tf.equal(labels[:, None], labels[None, :])
    return tf.reduce_sum(tf.cast(same, tf.int32)) - tf.size(labels)


def _batch_size(labels):
    return tf.size(labels)


def _pairs_of(embeddings, labels, images_per_class):
    """(anchors [P, D], positives [P, D], their labels [P]): each class's first two images."""
    grouped = tf.reshape(embeddings, [-1, images_per_class, tf.shape(embeddings)[-1]])
    return grouped[:, 0], grouped[:, 1], tf.reshape(labels, [-1, images_per_class])[:, 0]


def _triplet(triplet_fn, count_fn, options):
    """The paper's eq. 2: squared L2 distances of unit vectors (TF-Addons' default is
    the non-squared distance)."""

    def loss(embeddings, labels, seed=None):
        return triplet_fn(labels, tf.math.l2_normalize(embeddings, axis=-1),
                          margin=options.margin, distance_metric="squared-L2")

    return MetricLoss(_reduced(loss, count_fn, options.reduction))


def _npairs(npairs_fn, options):
    """Sohn's N-pair loss on the first two images of each class in a P x K batch."""

    def loss(embeddings, labels, seed=None):
        anchors, positives, anchor_labels = _pairs_of(embeddings, labels,
                                                      options.images_per_class)
        similarity = tf.matmul(anchors, positives, transpose_b=True)
        penalty = 0.25 * options.npairs_l2_reg * (
            tf.reduce_mean(tf.reduce_sum(tf.square(anchors), 1))
            + tf.reduce_mean(tf.reduce_sum(tf.square(positives), 1))
        )
        return npairs_fn(anchor_labels, similarity) + penalty

    def anchors(labels):
        return tf.size(labels) // options.images_per_class

    return MetricLoss(_reduced(loss, anchors, options.reduction))


def _lifted(lifted_fn, options):
    """Song et al.'s lifted structured loss on the raw embeddings."""

    def loss(embeddings, labels, seed=None):
        return lifted_fn(labels, embeddings, margin=options.margin)

    return MetricLoss(_reduced(loss, _ordered_positive_pairs, options.reduction))


def _contrastive(contrastive_fn, options):
    """Contrastive loss over all pairs i < j of normalised embeddings. Mean: positives and
    negatives averaged separately so the many negatives do not drown the positives; sum:
    every pair's term added."""

    def loss(embeddings, labels, seed=None):
        normalized = tf.math.l2_normalize(embeddings, axis=-1)
        n = tf.shape(normalized)[0]
        rows, cols = tf.meshgrid(tf.range(n), tf.range(n), indexing="ij")
        upper = rows < cols
        first, second = tf.boolean_mask(rows, upper), tf.boolean_mask(cols, upper)
        diff = tf.gather(normalized, first) - tf.gather(normalized, second)
        distances = tf.sqrt(tf.reduce_sum(tf.square(diff), -1) + 1e-12)
        same = tf.cast(tf.equal(tf.gather(labels, first), tf.gather(labels, second)), tf.float32)
        per_pair = contrastive_fn(same, distances, margin=options.margin)
        if options.reduction == "sum":
            return tf.reduce_sum(per_pair)
        positive = tf.math.divide_no_nan(tf.reduce_sum(per_pair * same), tf.reduce_sum(same))
        negative = tf.math.divide_no_nan(
            tf.reduce_sum(per_pair * (1.0 - same)), tf.reduce_sum(1.0 - same)
        )
        return positive + negative

    return MetricLoss(loss)


def _margin_dws(options):
    beta = options.make_variable("margin_dws_beta", np.float32(INITIAL_BETA))
    return MetricLoss(margin_dws_loss(options.margin, beta, options.reduction), (beta,))


def _proxy_nca(options):
    """Proxy-NCA over a table of --num_proxies proxies, indexed by the training labels."""
    proxies = options.make_variable(
        "proxy_nca_proxies", initial_proxies(options.num_proxies, options.embedding_dim))

    def loss(embeddings, labels, seed=None):
        terms = proxy_nca_terms(embeddings, labels, proxies)
        return _sum_or_mean(terms, options.reduction)

    return MetricLoss(loss, (proxies,))


def _angular(options):
    """The angular loss on the first two images of each class; --margin is alpha in degrees."""

    def loss(embeddings, labels, seed=None):
        anchors, positives, _ = _pairs_of(embeddings, labels, options.images_per_class)
        terms = angular_terms(anchors, positives, options.margin)
        return _sum_or_mean(terms, options.reduction)

    return MetricLoss(loss)


# name -> (margin when --margin is not given, builder(functions of the backend, options)).
# Default margins: triplet on unit vectors (squared distances in [0, 4]), contrastive on
# unit-vector distances in [0, 2], lifted on raw embeddings as TF-Addons' default; the
# angular loss's alpha in degrees (Wang et al. found 36-55 best).
_LOSSES = {
    "triplet_semihard": (0.2, lambda fns, o: _triplet(fns.triplet_semihard_loss,
                                                      _ordered_positive_pairs, o)),
    "triplet_hard": (0.2, lambda fns, o: _triplet(fns.triplet_hard_loss, _batch_size, o)),
    "npairs": (None, lambda fns, o: _npairs(fns.npairs_loss, o)),
    "lifted": (1.0, lambda fns, o: _lifted(fns.lifted_struct_loss, o)),
    "contrastive": (0.5, lambda fns, o: _contrastive(fns.contrastive_loss, o)),
    "margin_dws": (0.2, lambda fns, o: _margin_dws(o)),
    "proxy_nca": (None, lambda fns, o: _proxy_nca(o)),
    "angular": (45.0, lambda fns, o: _angular(o)),
}
METRIC_LOSSES = tuple(_LOSSES)
# The losses with trainable variables of their own.
VARIABLE_LOSSES = ("margin_dws", "proxy_nca")


def make_metric_loss(name: str, margin: Optional[float] = None, images_per_class: int = 2,
                     npairs_l2_reg: float = 0.002, backend: str = "auto",
                     reduction: str = "mean", num_proxies: int = 0,
                     embedding_dim: int = 0,
                     make_variable: Callable = plain_variable) -> MetricLoss:
    """Builds the named metric loss; batches are P classes x K images, class-contiguous.
    `backend` (auto, tfa, own) picks who computes the standard losses (backend.py);
    `reduction` is "mean" here, as TF-Addons reduces (a run's --metric_reduction defaults
    to "sum", config.py says why); proxy_nca needs `num_proxies` (one per training class)
    of `embedding_dim`; `make_variable(name, initial)` makes the loss's own variables."""
    if name not in _LOSSES:
        raise UserError(f"--metric_loss={name} is unknown; choose one of "
                        f"{', '.join(METRIC_LOSSES)}")
    if reduction not in REDUCTIONS:
        raise UserError(f"--metric_reduction={reduction} is unknown; choose one of "
                        f"{', '.join(REDUCTIONS)}")
    if name == "proxy_nca" and (num_proxies < 1 or embedding_dim < 1):
        raise UserError("--metric_loss=proxy_nca needs --num_proxies (one per training "
                        "class) and --embedding_dim")
    default_margin, build = _LOSSES[name]
    options = LossOptions(default_margin if margin is None else margin, images_per_class,
                          npairs_l2_reg, reduction, num_proxies, embedding_dim, make_variable)
    return build(loss_functions(backend), options)
