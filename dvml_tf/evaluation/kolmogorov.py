"""The exact upper tail of the two-sided Kolmogorov-Smirnov statistic, P(D_n >= d), for
many d at once: Durbin's matrix formula as Marsaglia, Tsang and Wang (2003, "Evaluating
Kolmogorov's distribution") state it, written from their paper and vectorised over d.

With n d = k - h (k an integer, 0 <= h < 1) and H the (2k-1) x (2k-1) matrix of
H[i, j] = 1/(i - j + 1)! where i - j + 1 >= 0 (else 0), its first column and last row
corrected by h (`_durbin_matrices`): P(D_n < d) = n!/n^n (H^n)[k-1, k-1]. The matrix grows
with n d, so statistics of large n d (small p-values of large classes), and n over
MAX_EXACT_N, go to scipy's kstwo, whose exact values these equal to about 1e-13 (tested
to 1e-10)."""
import math

import numpy as np
from scipy import stats

MAX_EXACT_N = 140  # scipy's own bound for its exact methods
MAX_MATRIX = 41  # the largest H computed here (k <= 21)


def ks_sf(statistics: np.ndarray, n: int) -> np.ndarray:
    """P(D_n >= d) for each d of `statistics` (any shape), as scipy.stats.kstwo.sf."""
    d = np.asarray(statistics, np.float64)
    sf = np.where(d <= 0, 1.0, 0.0)
    inside = (d > 0) & (d < 1)
    k = np.ceil(n * d).astype(np.int64)
    exact = inside & (2 * k - 1 <= MAX_MATRIX) & (n <= MAX_EXACT_N)
    scale = math.exp(math.lgamma(n + 1) - n * math.log(n))  # n!/n^n
    for size in np.unique(k[exact]):
        chosen = exact & (k == size)
        matrices = _durbin_matrices(size - n * d[chosen], int(size))
        sf[chosen] = 1.0 - scale * _power(matrices, n)[:, size - 1, size - 1]
    rest = inside & ~exact
    sf[rest] = stats.kstwo.sf(d[rest], n)
    return sf


def _durbin_matrices(h: np.ndarray, k: int) -> np.ndarray:
    """H [len(h), 2k-1, 2k-1] for each h (Marsaglia et al. 2003, Sec. 2)."""
    m = 2 * k - 1
    gap = np.arange(m)[:, None] - np.arange(m)[None, :] + 1  # i - j + 1
    inverse_factorial = np.array([1.0 / math.factorial(g) if g >= 0 else 0.0
                                  for g in gap.ravel()]).reshape(m, m)
    matrices = np.repeat(inverse_factorial[None], len(h), axis=0)
    # h^j / j! for j = 1..m: taken from the first column (row i: j = i + 1) and from the
    # last row (column j: m - j), and the corner gets (2h - 1)^m / m! back where 2h > 1.
    corrections = h[:, None] ** np.arange(1, m + 1) / np.array(
        [float(math.factorial(j)) for j in range(1, m + 1)])
    matrices[:, :, 0] -= corrections
    matrices[:, m - 1, :] -= corrections[:, ::-1]
    matrices[:, m - 1, 0] += np.maximum(2 * h - 1, 0.0) ** m / math.factorial(m)
    return matrices


def _power(matrices: np.ndarray, n: int) -> np.ndarray:
    """Each matrix to the n-th power, by repeated squaring."""
    result, square = None, matrices
    while n:
        if n & 1:
            result = square if result is None else result @ square
        n >>= 1
        if n:
            square = square @ square
    return result
