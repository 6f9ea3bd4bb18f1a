"""95 % bootstrap intervals of the evaluation metrics (percentile bootstrap, fixed seed)."""
from typing import Dict, List

import numpy as np

from dvml_tf.evaluation.clustering import nmi, pairwise_f1


def bootstrap_intervals(per_query: Dict[str, np.ndarray], replicates: int,
                        seed: int = 0) -> Dict[str, List[float]]:
    """95 % percentile bootstrap interval of each metric's mean over queries: the queries
    resampled with replacement `replicates` times (NaN entries left out of each mean)."""
    rng = np.random.default_rng(seed)
    n = len(next(iter(per_query.values())))
    means = {name: np.empty(replicates) for name in per_query}
    for replicate in range(replicates):
        sample = rng.integers(0, n, n)
        for name, values in per_query.items():
            means[name][replicate] = np.nanmean(values[sample])
    return {name: [float(v) for v in np.percentile(m, [2.5, 97.5])]
            for name, m in means.items()}


def clustering_bootstrap_intervals(labels: np.ndarray, clusters: np.ndarray, replicates: int,
                                   seed: int = 0) -> Dict[str, List[float]]:
    """95 % bootstrap intervals of NMI and F1 with the clustering held fixed: items
    resampled with replacement, the (class, cluster) table recounted each time; the k-means
    is not rerun (at SOP scale it costs seconds a run, the recount milliseconds).

    Neither score is a mean, and resampling shifts both: a duplicated item always shares
    its copy's class and cluster (NMI 0.75 rose to a resample mean of 0.81 on 200 items in
    50 classes). The interval is therefore the resamples' 2.5-97.5 % spread around their
    mean, placed around the estimate."""
    rng = np.random.default_rng(seed)
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(clusters, return_inverse=True)
    scores = {"nmi": np.empty(replicates), "f1": np.empty(replicates)}
    for replicate in range(replicates):
        sample = rng.integers(0, len(labels), len(labels))
        scores["nmi"][replicate] = nmi(label_ids[sample], cluster_ids[sample])
        scores["f1"][replicate] = pairwise_f1(label_ids[sample], cluster_ids[sample])
    estimates = {"nmi": nmi(label_ids, cluster_ids), "f1": pairwise_f1(label_ids, cluster_ids)}
    return {name: [float(estimates[name] + q - values.mean())
                   for q in np.percentile(values, [2.5, 97.5])]
            for name, values in scores.items()}
