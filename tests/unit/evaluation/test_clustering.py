"""k-means behind NMI and F1: it finds perfectly separated classes at 40, 1,000 and 11,316
classes, is at least as good as scikit-learn's k-means++ with ten restarts where classes
overlap, and NMI and F1 of a known clustering are the hand-computed values."""
import numpy as np
import pytest
from sklearn.cluster import KMeans

from dvml_tf.evaluation import clustering
from dvml_tf.evaluation.clustering import nmi, pairwise_f1
from dvml_tf.evaluation.metrics import l2_normalize


def separable(num_classes, smallest, largest, dim, seed=0, one_hot=False):
    """Classes of `smallest` to `largest` images around well-separated unit centres."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), rng.integers(smallest, largest + 1, num_classes))
    centres = np.eye(num_classes, dim) * 10 if one_hot else rng.normal(size=(num_classes, dim))
    points = l2_normalize(centres)[labels] + rng.normal(scale=0.01, size=(len(labels), dim))
    return rng.permutation(len(labels)), points.astype(np.float32), labels


@pytest.mark.parametrize("num_classes,smallest,largest,dim,one_hot", [
    (40, 5, 5, 64, True),
    (1000, 2, 9, 128, False),
    pytest.param(11316, 2, 9, 512, False, marks=pytest.mark.slow),
])
def test_perfectly_separated_classes_score_one(num_classes, smallest, largest, dim, one_hot):
    order, points, labels = separable(num_classes, smallest, largest, dim, one_hot=one_hot)
    clusters = clustering.kmeans_clusters(points[order], num_classes)
    assert nmi(labels[order], clusters) == pytest.approx(1.0, abs=1e-6)
    assert pairwise_f1(labels[order], clusters) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("seeding", [clustering.farthest_first, clustering.kmeans_plus_plus])
def test_seedings_give_distinct_points(seeding):
    _, points, _ = separable(50, 3, 3, 32)
    seeds = seeding(points, 50, np.random.default_rng(1))
    assert len(seeds) == 50 == len(set(seeds.tolist()))


def test_farthest_first_seeds_every_separated_class_once():
    _, points, labels = separable(300, 2, 9, 64)
    seeds = clustering.farthest_first(points, 300, np.random.default_rng(0))
    assert sorted(labels[seeds]) == list(range(300))


def test_overlapping_classes_at_least_as_good_as_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 25, 2500)
    points = (rng.normal(size=(25, 16))[labels] + rng.normal(scale=0.6, size=(2500, 16)))
    points = points.astype(np.float32)
    ours = clustering.kmeans_clusters(points, 25)
    reference = KMeans(25, init="k-means++", n_init=10, random_state=0).fit(points)

    def objective(clusters):
        return sum(((points[clusters == c] - points[clusters == c].mean(0)) ** 2).sum()
                   for c in np.unique(clusters))

    assert objective(ours) <= objective(reference.labels_) * (1 + 1e-4)
    assert nmi(labels, ours) == pytest.approx(nmi(labels, reference.labels_), abs=0.005)


def test_merging_two_classes_gives_the_hand_computed_scores():
    labels = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([5, 5, 5, 5, 7, 7])  # classes 0 and 1 merged
    # F1: 3 same-class pairs, all in one cluster; 7 same-cluster pairs: P = 3/7, R = 1.
    assert pairwise_f1(labels, clusters) == pytest.approx(0.6)
    # NMI: I = H(clusters), since the clusters are a function of the classes.
    h_clusters = -(4 / 6 * np.log(4 / 6) + 2 / 6 * np.log(2 / 6))
    assert nmi(labels, clusters) == pytest.approx(2 * h_clusters / (h_clusters + np.log(3)))


def test_lloyd_runs_to_a_fixed_point():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 30, 3000)
    points = (rng.normal(size=(30, 12))[labels] + rng.normal(size=(3000, 12))).astype(np.float32)
    clusters = clustering.kmeans_clusters(points, 30)
    means = np.stack([points[clusters == c].mean(0) for c in range(30)])
    reassigned = clustering.squared_distances(points, means).argmin(1)
    assert np.mean(reassigned != clusters) < 0.002
