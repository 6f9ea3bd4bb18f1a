"""TensorBoard's view of the variance branch during training, on a fixed probe of
training images (a few classes, several images each, no augmentation)."""
from typing import Callable

import numpy as np
import tensorflow as tf

from dvml_tf.data.splits import ImageSplit
from dvml_tf.evaluation.diagnostics import class_centres, variance_branch
from dvml_tf.models.dvml import LOSS_NAMES, DVMLModel

PROBE_CLASSES = 8
PROBE_IMAGES_PER_CLASS = 8

DESCRIPTIONS = {
    "sigma_per_dimension": "sigma of each embedding dimension, averaged over the probe images",
    "active_units": "dimensions whose variance of mu over the probe exceeds 0.01 (Burda et "
                    "al. 2016)",
    "mu_between_class_share": "share of Var(mu) between classes: 0 = mu independent of the "
                              "class (the paper's premise), 1 = mu encodes the class",
    "real_distance_to_class_centre": "mean ||z_I - class centre||, centres over the probe",
    "synthesized_distance_to_class_centre": "mean ||z_I + mu + sigma*eps - class centre||",
}


def probe_subset(split: ImageSplit) -> ImageSplit:
    """The first PROBE_CLASSES classes with two or more images, up to
    PROBE_IMAGES_PER_CLASS images each."""
    classes, counts = np.unique(split.labels, return_counts=True)
    chosen = []
    for label in classes[counts >= 2][:PROBE_CLASSES]:
        chosen.extend(np.flatnonzero(split.labels == label)[:PROBE_IMAGES_PER_CLASS])
    chosen = np.array(chosen)
    return ImageSplit(split.images[chosen], split.labels[chosen], split.kind)


def variance_summary_writer(model: DVMLModel) -> Callable[[tf.Tensor, np.ndarray, int], None]:
    """A function (probe images, labels, step) that writes the variance branch's summaries
    to the default writer: sigma per dimension, active units, the between-class share of
    Var(mu), real and synthesized distances to the class centre, and the gradient norm
    each weighted loss term puts on log sigma^2 and on the backbone's output."""
    gradient_norms = tf.function(model.term_gradient_norms)
    encode = tf.function(model.encode)

    def write(images, labels, step):
        z_invariant, mu, log_var = (t.numpy() for t in encode(images))
        sigma = np.exp(0.5 * log_var)
        state = variance_branch(mu, log_var, labels)
        centres = class_centres(z_invariant, labels)
        noise = np.random.default_rng(step).standard_normal(mu.shape)
        synthesized = z_invariant + mu + sigma * noise
        values = {
            "active_units": state["active_units"],
            "mu_between_class_share": state["mu_between_class_share"],
            "real_distance_to_class_centre": np.linalg.norm(z_invariant - centres, axis=1).mean(),
            "synthesized_distance_to_class_centre":
                np.linalg.norm(synthesized - centres, axis=1).mean(),
        }
        tf.summary.histogram("variance/sigma_per_dimension", sigma.mean(axis=0),
                             description=DESCRIPTIONS["sigma_per_dimension"])
        for name, value in values.items():
            tf.summary.scalar(f"variance/{name}", value, description=DESCRIPTIONS[name])
        norms = gradient_norms(images, tf.constant(labels), tf.constant(step, tf.int64))
        for name in LOSS_NAMES:
            on_log_var, on_features = norms[name]
            tf.summary.scalar(f"gradient_norms/{name}_on_log_var", on_log_var,
                              description=f"|d (lambda * {name}) / d log sigma^2|")
            tf.summary.scalar(f"gradient_norms/{name}_on_backbone_output", on_features,
                              description=f"|d (lambda * {name}) / d x|, x the backbone's "
                                          "pooled features")

    return write
