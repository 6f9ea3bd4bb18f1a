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
from typing import Dict, Optional, Tuple

import numpy as np
from scipy import stats

from dvml_tf.evaluation.kolmogorov import ks_sf
from dvml_tf.evaluation.metrics import l2_normalize

# Burda et al. 2016: a unit is active when Cov over x of mu exceeds this.
ACTIVE_UNIT_VARIANCE = 0.01
# synthesized_samples probes at most this many images, in chunks of this many rows.
SYNTHESIS_PROBE_IMAGES = 8192
NEAREST_CENTRE_CHUNK = 1024


def _class_sums(embeddings: np.ndarray, labels: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the classes, each row's index among them, each class's sum of rows [C, D])."""
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(classes), embeddings.shape[1]))
    np.add.at(sums, inverse, embeddings)
    return classes, inverse, sums


def class_centres(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's class centre [N, D]: the mean of its class's rows."""
    _, inverse, sums = _class_sums(embeddings, labels)
    return (sums / np.bincount(inverse)[:, None])[inverse]


def ks_p_values(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per class of at least 3 images, in label order: the mean over dimensions of the
    KS p-value of the standardised central features against N(0, 1) (dimensions without
    spread left out; classes without any, too). Classes of one size are tested together:
    the statistic D = max_i max(i/n - F(z_(i)), F(z_(i)) - (i-1)/n) over the sorted
    z_(i), and its exact p-value P(D_n >= D) (kolmogorov.ks_sf), as scipy's kstest computes
    them one by one."""
    central = embeddings - class_centres(embeddings, labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    p_values = np.full(len(counts), np.nan)
    for n in np.unique(counts[counts >= 3]):
        group = np.flatnonzero(counts == n)
        block = central[members[starts[group][:, None] + np.arange(n)]]  # [classes, n, D]
        spread = block.std(axis=1, ddof=1)
        usable = spread > 0
        cdf = stats.norm.cdf(np.sort(block / np.where(usable, spread, 1)[:, None], axis=1))
        rank = np.arange(1, n + 1)[None, :, None]
        statistic = np.maximum((rank / n - cdf).max(axis=1), (cdf - (rank - 1) / n).max(axis=1))
        summed = np.where(usable, ks_sf(statistic, n), 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_values[group] = summed / usable.sum(axis=1)
    return p_values[np.isfinite(p_values)]


def relative_deviation(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """The average relative deviation (%): per class, the mean distance of its embeddings
    to their centre over the centre's norm; averaged over classes of 2 or more images."""
    _, inverse, sums = _class_sums(embeddings, labels)
    counts = np.bincount(inverse)
    centres = sums / counts[:, None]
    distances = np.linalg.norm(embeddings - centres[inverse], axis=1)
    mean_distance = np.bincount(inverse, distances) / counts
    ratios = mean_distance / np.maximum(np.linalg.norm(centres, axis=1), 1e-12)
    return 100.0 * float(ratios[counts >= 2].mean())


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


def _own_class_nearest(points: np.ndarray, labels: np.ndarray, classes: np.ndarray,
                       centres: np.ndarray) -> float:
    """The share of `points` whose nearest class centre by cosine is their own class."""
    hits = 0
    for start in range(0, len(points), NEAREST_CENTRE_CHUNK):
        similarity = l2_normalize(points[start:start + NEAREST_CENTRE_CHUNK]) @ centres.T
        hits += np.sum(classes[np.argmax(similarity, axis=1)]
                       == labels[start:start + NEAREST_CENTRE_CHUNK])
    return float(hits / len(points))


def synthesized_samples(z_invariant: np.ndarray, mu: np.ndarray, log_var: np.ndarray,
                        labels: np.ndarray, seed: int = 0) -> Dict[str, float]:
    """Where one synthesized sample per image, z_I + mu + sigma * eps, lies as the
    normalising metric losses see it: the mean norm of z_I and of the noise sigma * eps,
    the mean cosine between the sample and its z_I, and the share of real
    embeddings and of synthesized samples whose nearest class centre (cosine; a centre is
    the normalised mean of its class's unit embeddings) is their own class. A synthesized
    share far below the real one means L3 trains on samples that lie in other classes'
    regions. At most SYNTHESIS_PROBE_IMAGES images (a fixed random subset) are probed."""
    rng = np.random.default_rng(seed)
    unit = l2_normalize(z_invariant)
    classes, _, sums = _class_sums(unit, labels)
    centres = l2_normalize(sums)
    rows = np.arange(len(labels))
    if len(rows) > SYNTHESIS_PROBE_IMAGES:
        rows = np.sort(rng.choice(rows, SYNTHESIS_PROBE_IMAGES, replace=False))
    noise = np.exp(0.5 * log_var[rows]) * rng.standard_normal(mu[rows].shape)
    synthesized = z_invariant[rows] + mu[rows] + noise
    return {
        "z_invariant_norm_mean": float(np.linalg.norm(z_invariant, axis=1).mean()),
        "noise_norm_mean": float(np.linalg.norm(noise, axis=1).mean()),
        "cosine_to_z_invariant_mean": float(np.mean(np.sum(
            l2_normalize(synthesized) * unit[rows], axis=1))),
        "nearest_centre_own_class_real": _own_class_nearest(
            z_invariant[rows], labels[rows], classes, centres),
        "nearest_centre_own_class_synthesized": _own_class_nearest(
            synthesized, labels[rows], classes, centres),
    }


def embedding_diagnostics(embeddings: np.ndarray, labels: np.ndarray,
                          heads: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
                          ) -> Dict[str, object]:
    """diagnostics.json: Table 4's statistics of the (unit) embeddings, and for DVML runs,
    given the heads (z_I, mu, log sigma^2) of the same images, the variance branch's state
    and where its synthesized samples lie."""
    p_values = ks_p_values(embeddings, labels)
    result: Dict[str, object] = {
        "ks_p_value_mean": float(p_values.mean()) if len(p_values) else None,
        "ks_p_value_sd": float(p_values.std(ddof=1)) if len(p_values) > 1 else None,
        "ks_classes": int(len(p_values)),
        "relative_deviation_percent": relative_deviation(embeddings, labels),
    }
    if heads is not None:
        z_invariant, mu, log_var = heads
        result["variance_branch"] = variance_branch(mu, log_var, labels)
        result["synthesized_samples"] = synthesized_samples(z_invariant, mu, log_var, labels)
    return result
