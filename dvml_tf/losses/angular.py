"""The angular loss (Wang et al. 2017, eq. 8, N-pair form).

For the anchor a and positive p of each class in the batch, with every image of the other
classes (their anchors and positives) as negatives n:
    loss(a, p) = log(1 + sum_n exp(4 tan^2(alpha) (a + p)^T n - 2 (1 + tan^2(alpha)) a^T p)),
on L2-normalised embeddings. It bounds the angle at the negative by alpha. Written
from the paper.
"""
import math

import tensorflow as tf

from dvml_tf.errors import UserError
from dvml_tf.losses.arguments import finite, whole
from dvml_tf.losses.base import REDUCTION_SETTING, BaseMetricLoss, register_loss
from dvml_tf.losses.reduction import reduce_terms


def angular_terms(anchors: tf.Tensor, positives: tf.Tensor, alpha_degrees: float) -> tf.Tensor:
    """The per-anchor losses [N]: row i of anchors and positives is class i's pair; the
    other rows' anchors and positives are its negatives."""
    a = tf.math.l2_normalize(tf.cast(anchors, tf.float32), axis=-1)
    p = tf.math.l2_normalize(tf.cast(positives, tf.float32), axis=-1)
    tan_squared = math.tan(math.radians(alpha_degrees)) ** 2
    negatives = tf.concat([a, p], axis=0)
    # logits[i, n] = 4 tan^2 (a_i + p_i)^T n - 2 (1 + tan^2) a_i^T p_i, over every image n.
    logits = (4.0 * tan_squared * tf.matmul(a + p, negatives, transpose_b=True)
              - 2.0 * (1.0 + tan_squared) * tf.reduce_sum(a * p, axis=1, keepdims=True))
    own_pair = tf.eye(tf.shape(a)[0], dtype=tf.bool)
    others = ~tf.concat([own_pair, own_pair], axis=1)
    # log(1 + sum_j exp(logit_j)) = logsumexp over {0} and the negatives' logits.
    with_one = tf.concat([tf.zeros_like(logits[:, :1]), tf.where(others, logits, -1e30)], 1)
    return tf.reduce_logsumexp(with_one, axis=1)


def degrees(name: str, value) -> float:
    """An angle from 0 up to 90 degrees, where tan(alpha) is finite."""
    if not 0 <= finite(name, value) < 90:
        raise UserError(f"{name}={value}: an angle in degrees, from 0 up to 90")
    return float(value)


IMAGES_PER_CLASS_SETTING = {"images_per_class": ("images_per_class", whole(2))}


def pairs_of(embeddings: tf.Tensor, labels: tf.Tensor, images_per_class: int):
    """(anchors [P, D], positives [P, D], their labels [P]): each class's first two images.
    A batch whose size is known and no multiple of `images_per_class` is a ValueError."""
    rows = embeddings.shape[0]
    if rows is not None and rows % images_per_class:
        raise UserError(f"{rows} embeddings are no P x K batch of images_per_class="
                        f"{images_per_class} (N-pair and angular pair each class's first two)")
    grouped = tf.reshape(embeddings, [-1, images_per_class, tf.shape(embeddings)[-1]])
    return grouped[:, 0], grouped[:, 1], tf.reshape(labels, [-1, images_per_class])[:, 0]


@register_loss("angular")
class AngularLoss(BaseMetricLoss):
    """The angular loss of each class's first two images in P x K batches of
    `images_per_class`; `alpha` in degrees (Wang et al. found 36-55 best); averaged over
    the anchors ("mean") or added."""

    SETTINGS = {"margin": ("alpha", degrees), **IMAGES_PER_CLASS_SETTING, **REDUCTION_SETTING}

    def __init__(self, *, alpha: float = 45.0, images_per_class: int = 2,
                 reduction: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self._set(alpha=alpha, images_per_class=images_per_class, reduction=reduction)

    def loss(self, embeddings, labels, seed=None):
        anchors, positives, _ = pairs_of(embeddings, labels, self.images_per_class)
        terms = angular_terms(anchors, positives, self.alpha)
        return reduce_terms(terms, tf.ones_like(terms), self.reduction)
