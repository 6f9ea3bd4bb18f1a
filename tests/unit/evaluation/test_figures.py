"""The visualisation's data transforms (the figures themselves are checked end to end)."""
import numpy as np

from dvml_tf.evaluation.figures import (
    OTHER_CLASS,
    QUERY,
    RETRIEVAL_BORDER,
    RETRIEVAL_CELL,
    SAME_CLASS,
    central_latent_space,
    retrieval_grid,
    retrieval_queries,
    stratified_sample,
)


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


def test_retrieval_grid_borders_neighbours_by_class_nearest_first():
    # Query 0 (class 1): nearest 1 (class 1), then 2 (class 2), then 3 (class 1); itself
    # never appears among its neighbours.
    embeddings = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    labels = np.array([1, 1, 2, 1, 2])
    thumbnails = (np.arange(5)[:, None, None, None] * 40 + np.zeros((5, 32, 32, 3))).astype(
        np.uint8)
    grid = retrieval_grid(embeddings, labels, thumbnails, np.array([0]), k=3)
    cell, border = RETRIEVAL_CELL, RETRIEVAL_BORDER
    assert grid.shape == (cell, 4 * cell + cell // 2, 3)

    def border_colour(column):
        x = column * cell + (cell // 2 if column else 0)
        return tuple(grid[1, x + 1]), int(grid[cell // 2, x + cell // 2, 0])

    assert border_colour(0) == (QUERY, 0)
    assert border_colour(1) == (SAME_CLASS, 40)
    assert border_colour(2) == (OTHER_CLASS, 80)
    assert border_colour(3) == (SAME_CLASS, 120)
    assert border < cell // 2


def test_retrieval_queries_come_from_different_classes():
    labels = np.repeat(np.arange(10), 5)
    queries = retrieval_queries(labels, count=8)
    assert len(set(labels[queries])) == 8
    few = retrieval_queries(np.repeat([0, 1], 5), count=4)
    assert len(set(few)) == 4 and set(np.repeat([0, 1], 5)[few]) == {0, 1}
