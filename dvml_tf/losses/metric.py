"""The metric losses Lm of L3 and L4 (Lin et al. 2018, eqs. 2-4) by name.

Batches are P classes x K images, class-contiguous. The triplet, N-pair, lifted and
contrastive losses call TF-Addons or the package's own (backend.py, standard.py);
margin_dws, proxy_nca, angular, multi_similarity, proxy_anchor and circle are the package's
own.
Reduction: "mean" averages each loss over its terms, as TF-Addons does; "sum" adds them,
as eqs. 2 and 4 are printed (a sum over the batch's triplets), which weighs Lm against
the KL and the reconstruction about (number of terms) times more. N-pair's eq. 3 is
printed as a mean; "sum" adds its anchors' terms too.
To add a loss: write its builder (functions of the backend, LossOptions) -> MetricLoss
whose fn is (embeddings [B, D], labels [B], seed [2]) -> scalar, and give it a line in
`_LOSSES`; the flag --metric_loss offers every name there. A pair-based loss that can pair
the batch with a cross-batch memory (XBM) also gives memory_fn.
"""
import math
from typing import Callable, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.angular import angular_terms
from dvml_tf.losses.backend import loss_functions
from dvml_tf.losses.circle import GAMMA as CIRCLE_GAMMA
from dvml_tf.losses.circle import MARGIN as CIRCLE_MARGIN
from dvml_tf.losses.circle import circle_terms
from dvml_tf.losses.margin_dws import INITIAL_BETA, margin_dws_loss
from dvml_tf.losses.multi_similarity import ALPHA as MS_ALPHA
from dvml_tf.losses.multi_similarity import BASE as MS_LAMBDA
from dvml_tf.losses.multi_similarity import BETA as MS_BETA
from dvml_tf.losses.multi_similarity import multi_similarity_terms
from dvml_tf.losses.proxy_anchor import ALPHA as PROXY_ANCHOR_ALPHA
from dvml_tf.losses.proxy_anchor import LEARNING_RATE_MULTIPLIER as PROXY_LR_MULTIPLIER
from dvml_tf.losses.proxy_anchor import proxy_anchor_loss
from dvml_tf.losses.proxy_nca import initial_proxies, proxy_nca_terms

REDUCTIONS = ("mean", "sum")


class MetricLoss(NamedTuple):
    """A metric loss Lm(embeddings [B, D], labels [B], seed [2]) -> scalar.

    `seed` feeds losses that sample (stateless, so resumed runs sample alike);
    `variables` are the loss's own trainable variables (margin_dws's boundary beta,
    proxy_nca's and proxy_anchor's proxies), made by the builder's `make_variable`;
    `memory_fn(embeddings, labels, memory_embeddings, memory_labels, ignored) -> scalar`,
    where the loss can use a cross-batch memory, is its term of the batch's anchors
    against the memory (ignored [B, N] marks the pairs that are none: an empty slot, an
    anchor's own row).
    """

    fn: Callable
    variables: tuple = ()
    memory_fn: Optional[Callable] = None


class LossOptions(NamedTuple):
    """What a loss builder needs besides the backend's functions."""

    margin: float
    images_per_class: int
    npairs_l2_reg: float
    reduction: str
    num_proxies: int
    embedding_dim: int
    # Multi-Similarity's alpha, beta and lambda; Proxy-Anchor's alpha and the learning-rate
    # multiplier of its proxies.
    ms_alpha: float
    ms_beta: float
    ms_lambda: float
    proxy_anchor_alpha: float
    proxy_lr_multiplier: float
    circle_gamma: float  # Circle loss's scale gamma
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


def _with_a_proxy(labels, num_proxies):
    """`labels`, each checked to index the proxy table [0, num_proxies): a label beyond it
    would have no proxy and train nothing, silently (an error naming the table's size)."""
    with tf.control_dependencies([tf.debugging.assert_less(
            labels, tf.cast(num_proxies, labels.dtype),
            message=f"a label is beyond the proxy table of {num_proxies} (labels must be "
                    f"0 to {num_proxies - 1}: num_classes / --num_proxies)"),
            tf.debugging.assert_non_negative(labels, message="a label is negative")]):
        return tf.identity(labels)


def _pairs_of(embeddings, labels, images_per_class):
    """(anchors [P, D], positives [P, D], their labels [P]): each class's first two images.
    A batch whose size is known and no multiple of `images_per_class` is a ValueError."""
    rows = embeddings.shape[0]
    if rows is not None and rows % images_per_class:
        raise UserError(f"{rows} embeddings are no P x K batch of images_per_class="
                        f"{images_per_class} (N-pair and angular pair each class's first two)")
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
    every pair's term added. With a memory: every (batch, written memory slot) pair."""

    def of_pairs(distances, same, counted):
        """The loss of pairs at `distances`, those where `counted` holds."""
        per_pair = contrastive_fn(same, distances, margin=options.margin) * counted
        if options.reduction == "sum":
            return tf.reduce_sum(per_pair)
        positive, negative = same * counted, (1.0 - same) * counted
        return (tf.math.divide_no_nan(tf.reduce_sum(per_pair * positive),
                                      tf.reduce_sum(positive))
                + tf.math.divide_no_nan(tf.reduce_sum(per_pair * negative),
                                        tf.reduce_sum(negative)))

    def loss(embeddings, labels, seed=None):
        normalized = tf.math.l2_normalize(embeddings, axis=-1)
        n = tf.shape(normalized)[0]
        rows, cols = tf.meshgrid(tf.range(n), tf.range(n), indexing="ij")
        upper = rows < cols
        first, second = tf.boolean_mask(rows, upper), tf.boolean_mask(cols, upper)
        diff = tf.gather(normalized, first) - tf.gather(normalized, second)
        distances = tf.sqrt(tf.reduce_sum(tf.square(diff), -1) + 1e-12)
        same = tf.cast(tf.equal(tf.gather(labels, first), tf.gather(labels, second)), tf.float32)
        return of_pairs(distances, same, tf.ones_like(same))

    def memory_loss(embeddings, labels, memory, memory_labels, ignored):
        # Unit vectors: |a - m|^2 = 2 - 2 a.m, for every (batch, memory slot) pair at once.
        cosine = tf.matmul(tf.math.l2_normalize(embeddings, axis=-1),
                           tf.math.l2_normalize(memory, axis=-1), transpose_b=True)
        distances = tf.sqrt(tf.maximum(2.0 - 2.0 * cosine, 0.0) + 1e-12)
        same = tf.cast(tf.equal(labels[:, None], memory_labels[None, :]), tf.float32)
        counted = 1.0 - tf.cast(ignored, tf.float32)
        return of_pairs(tf.reshape(distances, [-1]), tf.reshape(same, [-1]),
                        tf.reshape(counted, [-1]))

    return MetricLoss(loss, memory_fn=memory_loss)


def _margin_dws(options):
    beta = options.make_variable("margin_dws_beta", np.float32(INITIAL_BETA))
    return MetricLoss(margin_dws_loss(options.margin, beta, options.reduction), (beta,))


def _proxy_nca(options):
    """Proxy-NCA over a table of --num_proxies proxies, indexed by the training labels."""
    proxies = options.make_variable(
        "proxy_nca_proxies", initial_proxies(options.num_proxies, options.embedding_dim))

    def loss(embeddings, labels, seed=None):
        labels = _with_a_proxy(labels, options.num_proxies)
        terms = proxy_nca_terms(embeddings, labels, proxies)
        return _sum_or_mean(terms, options.reduction)

    return MetricLoss(loss, (proxies,))


def _multi_similarity(options):
    """Multi-Similarity with its mining over the batch (an image is no pair of itself);
    --margin is the mining's epsilon."""

    def reduce(terms):
        return _sum_or_mean(terms, options.reduction)

    def terms_of(anchors, anchor_labels, candidates, candidate_labels, ignored):
        return multi_similarity_terms(anchors, anchor_labels, candidates, candidate_labels,
                                      ignored, options.ms_alpha, options.ms_beta,
                                      options.ms_lambda, options.margin)

    def loss(embeddings, labels, seed=None):
        itself = tf.cast(tf.eye(tf.shape(embeddings)[0]), tf.bool)
        return reduce(terms_of(embeddings, labels, embeddings, labels, itself))

    def memory_loss(embeddings, labels, memory, memory_labels, ignored):
        return reduce(terms_of(embeddings, labels, memory, memory_labels, ignored))

    return MetricLoss(loss, memory_fn=memory_loss)


def _proxy_anchor(options):
    """Proxy-Anchor over a table of --num_proxies proxies, indexed by the training labels;
    --margin is its delta. The table starts at 1/multiplier of its scale: the proxies'
    learning-rate multiplier under Adam (proxy_anchor.py)."""
    proxies = options.make_variable(
        "proxy_anchor_proxies", initial_proxies(options.num_proxies, options.embedding_dim)
        / options.proxy_lr_multiplier)

    def loss(embeddings, labels, seed=None):
        labels = _with_a_proxy(labels, options.num_proxies)
        return proxy_anchor_loss(embeddings, labels, proxies, options.proxy_anchor_alpha,
                                 options.margin, options.reduction)

    return MetricLoss(loss, (proxies,))


def _circle(options):
    """Circle loss over the batch (an image is no pair of itself); --margin is its m. The
    mean is over the anchors with a positive and a negative pair, as keras.losses.Circle
    averages."""

    def reduce(terms_and_counted):
        terms, counted = terms_and_counted
        if options.reduction == "sum":
            return tf.reduce_sum(terms)
        return tf.math.divide_no_nan(tf.reduce_sum(terms),
                                     tf.reduce_sum(tf.cast(counted, tf.float32)))

    def loss(embeddings, labels, seed=None):
        itself = tf.cast(tf.eye(tf.shape(embeddings)[0]), tf.bool)
        return reduce(circle_terms(embeddings, labels, embeddings, labels, itself,
                                   options.circle_gamma, options.margin))

    def memory_loss(embeddings, labels, memory, memory_labels, ignored):
        return reduce(circle_terms(embeddings, labels, memory, memory_labels, ignored,
                                   options.circle_gamma, options.margin))

    return MetricLoss(loss, memory_fn=memory_loss)


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
    "multi_similarity": (0.1, lambda fns, o: _multi_similarity(o)),
    "proxy_anchor": (0.1, lambda fns, o: _proxy_anchor(o)),
    "circle": (CIRCLE_MARGIN, lambda fns, o: _circle(o)),
}
METRIC_LOSSES = tuple(_LOSSES)
# The losses with trainable variables of their own; those with one proxy per class.
VARIABLE_LOSSES = ("margin_dws", "proxy_nca", "proxy_anchor")
PROXY_LOSSES = ("proxy_nca", "proxy_anchor")
# The losses that can pair the batch with a cross-batch memory (--cross_batch_memory).
MEMORY_LOSSES = ("contrastive", "multi_similarity", "circle")


def check_loss_settings(name: str, proxy_lr_multiplier: float = PROXY_LR_MULTIPLIER,
                        cross_batch_memory: int = 0, margin: Optional[float] = None,
                        ms_alpha: float = MS_ALPHA, ms_beta: float = MS_BETA,
                        ms_lambda: float = MS_LAMBDA,
                        proxy_anchor_alpha: float = PROXY_ANCHOR_ALPHA,
                        circle_gamma: float = CIRCLE_GAMMA) -> None:
    """Raises UserError, naming the flag, for settings of the loss `name` that no run can
    use: the one check of the command line's settings and of the Python API's. Every number
    finite; the scales (alphas, beta) and the proxies' multiplier positive, as a zero or
    negative scale trains nothing or the inverted objective; a margin not negative."""
    numbers = dict(proxy_lr_multiplier=proxy_lr_multiplier, margin=margin, ms_alpha=ms_alpha,
                   ms_beta=ms_beta, ms_lambda=ms_lambda, proxy_anchor_alpha=proxy_anchor_alpha,
                   circle_gamma=circle_gamma)
    for setting, value in numbers.items():
        if value is not None and not (isinstance(value, (int, float))
                                      and not isinstance(value, bool) and math.isfinite(value)):
            raise UserError(f"--{setting}={value}: must be a finite number")
    for setting in ("proxy_lr_multiplier", "ms_alpha", "ms_beta", "proxy_anchor_alpha",
                    "circle_gamma"):
        if numbers[setting] <= 0:
            raise UserError(f"--{setting}={numbers[setting]} must be positive (a scale)")
    if margin is not None and margin < 0:
        raise UserError(f"--margin={margin} must be 0 or positive")
    if cross_batch_memory < 0:
        raise UserError(f"--cross_batch_memory={cross_batch_memory} must be 0 or positive")
    if cross_batch_memory and name not in MEMORY_LOSSES:
        raise UserError(f"--cross_batch_memory works with --metric_loss="
                        f"{' or '.join(MEMORY_LOSSES)}, not {name}")


def make_metric_loss(name: str, margin: Optional[float] = None, images_per_class: int = 2,
                     npairs_l2_reg: float = 0.002, backend: str = "auto",
                     reduction: str = "mean", num_proxies: int = 0,
                     embedding_dim: int = 0, ms_alpha: float = MS_ALPHA,
                     ms_beta: float = MS_BETA, ms_lambda: float = MS_LAMBDA,
                     proxy_anchor_alpha: float = PROXY_ANCHOR_ALPHA,
                     proxy_lr_multiplier: float = PROXY_LR_MULTIPLIER,
                     circle_gamma: float = CIRCLE_GAMMA,
                     make_variable: Callable = plain_variable) -> MetricLoss:
    """Builds the named metric loss; batches are P classes x K images, class-contiguous.
    `backend` (auto, tfa, own) picks who computes the standard losses (backend.py);
    `reduction` is "mean" here, as TF-Addons reduces (a run's --metric_reduction defaults
    to "sum", config.py says why); proxy_nca and proxy_anchor need `num_proxies` (one per
    training class) of `embedding_dim`; `ms_*` are Multi-Similarity's alpha, beta, lambda,
    `proxy_anchor_alpha` and `proxy_lr_multiplier` Proxy-Anchor's, `circle_gamma` Circle
    loss's (the papers' defaults);
    `make_variable(name, initial)` makes the loss's own variables."""
    if name not in _LOSSES:
        raise UserError(f"--metric_loss={name} is unknown; choose one of "
                        f"{', '.join(METRIC_LOSSES)}")
    if reduction not in REDUCTIONS:
        raise UserError(f"--metric_reduction={reduction} is unknown; choose one of "
                        f"{', '.join(REDUCTIONS)}")
    if name in PROXY_LOSSES and (num_proxies < 1 or embedding_dim < 1):
        raise UserError(f"--metric_loss={name} needs --num_proxies (one per training "
                        "class) and --embedding_dim")
    check_loss_settings(name, proxy_lr_multiplier, 0, margin, ms_alpha, ms_beta, ms_lambda,
                        proxy_anchor_alpha, circle_gamma)
    default_margin, build = _LOSSES[name]
    options = LossOptions(default_margin if margin is None else margin, images_per_class,
                          npairs_l2_reg, reduction, num_proxies, embedding_dim, ms_alpha,
                          ms_beta, ms_lambda, proxy_anchor_alpha, proxy_lr_multiplier,
                          circle_gamma, make_variable)
    return build(loss_functions(backend), options)
