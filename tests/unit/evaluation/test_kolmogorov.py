"""The vectorised exact Kolmogorov-Smirnov tail equals scipy's kstwo.sf to 1e-10, over
the statistics real classes give and over the whole range, edges included."""
import numpy as np
import pytest
from scipy import stats

from dvml_tf.evaluation.kolmogorov import ks_sf

RNG = np.random.default_rng(3)


def _class_statistics(n, count=2000):
    """KS statistics of `count` classes of n standardised normal samples."""
    z = RNG.normal(size=(count, n))
    z = (z - z.mean(1, keepdims=True)) / z.std(1, ddof=1, keepdims=True)
    cdf = stats.norm.cdf(np.sort(z, axis=1))
    rank = np.arange(1, n + 1)
    return np.maximum((rank / n - cdf).max(1), (cdf - (rank - 1) / n).max(1))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 12, 25, 60, 140, 141])
def test_ks_sf_equals_scipy(n):
    edges = [0.0, 1 / (2 * n), 1 / n, 2 / n, 0.5, 1 - 1 / n, 1.0, 1.5]
    d = np.concatenate([_class_statistics(n), RNG.uniform(0, 1, 500), edges])
    np.testing.assert_allclose(ks_sf(d, n), stats.kstwo.sf(d, n), rtol=0, atol=1e-10)


def test_ks_sf_keeps_the_shape():
    d = RNG.uniform(0.2, 0.6, size=(3, 4))
    assert ks_sf(d, 6).shape == (3, 4)
