"""TensorBoard's view of the variance branch during training, on a fixed probe of
training images (a few classes, several images each, no augmentation)."""
from typing import Callable

import numpy as np
import tensorflow as tf

from dvml_tf import tensorboard_tags
from dvml_tf.data.splits import ImageSplit
from dvml_tf.evaluation.diagnostics import class_centres, variance_branch
from dvml_tf.models.dvml import LOSS_NAMES, DVMLModel

PROBE_CLASSES = 8
PROBE_IMAGES_PER_CLASS = 8

# The histogram's range: log10 sigma outside it is clipped, so no outlier sets the range.
LOG10_SIGMA_RANGE = (-3.0, 1.0)


def probe_subset(split: ImageSplit) -> ImageSplit:
    """The first PROBE_CLASSES classes with two or more images, up to
    PROBE_IMAGES_PER_CLASS images each."""
    classes, counts = np.unique(split.labels, return_counts=True)
    chosen = []
    for label in classes[counts >= 2][:PROBE_CLASSES]:
        chosen.extend(np.flatnonzero(split.labels == label)[:PROBE_IMAGES_PER_CLASS])
    return split.subset(np.array(chosen))


def variance_summary_writer(model: DVMLModel) -> Callable[[tf.Tensor, np.ndarray, int], None]:
    """A function (probe images, labels, step) that writes the variance branch's summaries
    to the default writer: sigma and |mu|, sigma per dimension, active units, the
    between-class share of Var(mu), real and synthesized distances to the class centre,
    and the gradient norm each weighted loss term puts on log sigma^2 and on the
    backbone's output."""
    probe = tf.function(model.variance_probe)

    def write(images, labels, step):
        heads, synthesized, norms = probe(images, tf.constant(labels),
                                          tf.constant(step, tf.int64))
        z_invariant, mu, log_var = (t.numpy() for t in heads)
        sigma = np.exp(0.5 * log_var)
        state = variance_branch(mu, log_var, labels)
        centres = class_centres(z_invariant, labels)
        values = {
            "sigma_mean": sigma.mean(),
            "mu_abs_mean": np.abs(mu).mean(),
            "active_units": state["active_units"],
            "mu_between_class_share": state["mu_between_class_share"],
            "real_distance_to_class_centre": np.linalg.norm(z_invariant - centres, axis=1).mean(),
            "synthesized_distance_to_class_centre":
                np.linalg.norm(synthesized.numpy() - centres, axis=1).mean(),
        }
        variance, gradient_norms = tensorboard_tags.VARIANCE, tensorboard_tags.GRADIENT_NORMS
        tensorboard_tags.histogram(f"{variance}/log10_sigma_per_dimension", np.clip(
            np.log10(sigma.mean(axis=0)), *LOG10_SIGMA_RANGE))
        for name, value in values.items():
            tensorboard_tags.scalar(f"{variance}/{name}", value)
        for name in LOSS_NAMES:
            on_log_var, on_features = norms[name]
            tensorboard_tags.scalar(f"{gradient_norms}/{name}_on_log_var", on_log_var)
            tensorboard_tags.scalar(f"{gradient_norms}/{name}_on_backbone_output", on_features)

    return write
