"""The visualisation's data transforms (the figures themselves are checked end to end)."""
import numpy as np

from dvml_tf.evaluation.figures import central_latent_space, stratified_sample


def test_central_latent_space_removes_each_class_centre():
    rng = np.random.default_rng(0)
    labels = np.repeat([4, 7, 9], [3, 5, 2])
    embeddings = rng.normal(size=(10, 6)) + labels[:, None]
    centred = central_latent_space(embeddings, labels)
    for label in (4, 7, 9):
        np.testing.assert_allclose(centred[labels == label].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(centred[1] - centred[0], embeddings[1] - embeddings[0])


def test_stratified_sample_spreads_over_classes():
    labels = np.repeat(np.arange(5), [50, 3, 20, 20, 7])
    chosen = stratified_sample(labels, 20)
    assert len(chosen) == len(set(chosen)) == 20
    counts = np.bincount(labels[chosen], minlength=5)
    assert counts[1] == 3  # the small class is taken whole
    assert counts.max() - counts[counts > 3].min() <= 1
    np.testing.assert_array_equal(stratified_sample(labels, 500), np.arange(100))
