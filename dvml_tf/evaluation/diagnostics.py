"""What the variance branch learned, in numbers: the paper's Table 4 statistics of the
central features, and the state of the variance distribution N(mu, sigma^2).

Central features: each embedding minus its class centre (the class mean). Lin et al.
read Table 4's Kolmogorov-Smirnov p-values (74.9-83.9 % on average) as "central features
obey an isotropic Gaussian whose distribution is similar across classes". The paper does
not say how the test was run; here, per class and per dimension, the class's central
values are standardised by their own standard deviation and tested against N(0, 1), and
the class's p-value is the mean over dimensions. With the mean and deviation estimated
from the sample, Gaussian data give mean p-values near 0.78 (not 0.5) at 10-80 images
per class, and uniform data ~0.43 at 80 (measured), which is what the paper's numbers
resemble.
"""
from typing import Dict

import numpy as np
from scipy import stats

# Burda et al. 2016: a unit is active when Cov over x of mu exceeds this.
ACTIVE_UNIT_VARIANCE = 0.01


def _classes_with_two_or_more(labels: np.ndarray) -> np.ndarray:
    classes, counts = np.unique(labels, return_counts=True)
    return classes[counts >= 2]


def class_centres(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's class centre [N, D]: the mean of its class's rows."""
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(classes), embeddings.shape[1]))
    np.add.at(sums, inverse, embeddings)
    return (sums / np.bincount(inverse)[:, None])[inverse]


def ks_p_values(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class of at least 3 images: the mean over dimensions of the KS p-value of the
    standardised central features against N(0, 1)."""
    central = embeddings - class_centres(embeddings, labels)
    p_values = []
    for label in np.unique(labels):
        members = central[labels == label]
        if len(members) < 3:
            continue
        spread = members.std(axis=0, ddof=1)
        usable = spread > 0
        standardised = members[:, usable] / spread[usable]
        p_values.append(np.mean([stats.kstest(column, "norm").pvalue
                                 for column in standardised.T]))
    return np.array(p_values)


def relative_deviation(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """The average relative deviation (%): per class, the mean distance of its embeddings
    to their centre over the centre's norm; averaged over classes of 2 or more images."""
    centres = class_centres(embeddings, labels)
    distances = np.linalg.norm(embeddings - centres, axis=1)
    ratios = [distances[labels == c].mean() / max(np.linalg.norm(centres[labels == c][0]), 1e-12)
              for c in _classes_with_two_or_more(labels)]
    return 100.0 * float(np.mean(ratios))


def variance_branch(mu: np.ndarray, log_var: np.ndarray, labels: np.ndarray) -> Dict[str, float]:
    """The variance distribution over a set of images: sigma, active units of mu, and the
    share of Var(mu) that lies between classes (near 0: mu is class-independent, as the
    paper's premise asks; near 1: mu encodes the class)."""
    sigma = np.exp(0.5 * log_var)
    variance = mu.var(axis=0)
    between = class_centres(mu, labels).var(axis=0).sum()
    return {
        "sigma_mean": float(sigma.mean()),
        "sigma_min_dimension": float(sigma.mean(axis=0).min()),
        "sigma_max_dimension": float(sigma.mean(axis=0).max()),
        "mu_norm_mean": float(np.linalg.norm(mu, axis=1).mean()),
        "active_units": int(np.sum(variance > ACTIVE_UNIT_VARIANCE)),
        "mu_between_class_share": float(between / max(variance.sum(), 1e-12)),
    }


def embedding_diagnostics(embeddings: np.ndarray, mu: np.ndarray, log_var: np.ndarray,
                          labels: np.ndarray, dvml: bool) -> Dict[str, object]:
    """diagnostics.json: Table 4's statistics of the (unit) embeddings, and for DVML runs
    the variance branch's state on the same images."""
    p_values = ks_p_values(embeddings, labels)
    result: Dict[str, object] = {
        "ks_p_value_mean": float(p_values.mean()) if len(p_values) else None,
        "ks_p_value_sd": float(p_values.std(ddof=1)) if len(p_values) > 1 else None,
        "ks_classes": int(len(p_values)),
        "relative_deviation_percent": relative_deviation(embeddings, labels),
    }
    if dvml:
        result["variance_branch"] = variance_branch(mu, log_var, labels)
    return result
