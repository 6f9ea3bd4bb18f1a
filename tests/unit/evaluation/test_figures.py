"""The figures' data transforms (the figures themselves are checked end to end)."""
import os

import numpy as np

from dvml_tf.evaluation.figures import (
    central_latent_space,
    draw_retrieval,
    retrieval_queries,
    retrieval_rows,
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


def test_retrieval_rows_are_the_nearest_of_all_embeddings_without_the_query():
    # Query 0: nearest 1, then 2, then 3 (ties broken by index); itself never among them.
    embeddings = np.array([[0.0], [1.0], [2.0], [-2.0], [10.0], [1.0]])
    rows = retrieval_rows(embeddings, np.zeros(6), np.array([0, 4]), k=3)
    assert rows == [(0, [1, 5, 2]), (4, [2, 1, 5])]


def test_the_retrieval_figure_names_each_querys_class(tmp_path):
    labels = np.array([3, 3, 8, 8])
    named = []

    def names(label):
        named.append(int(label))
        return f"class {label}"

    draw_retrieval([(0, [1, 2]), (2, [3, 0])], labels, lambda i: np.zeros((8, 8, 3), np.uint8),
                   names, "title", str(tmp_path / "grid.png"))
    assert named == [3, 8] and (tmp_path / "grid.png").stat().st_size > 1000


def test_retrieval_queries_come_from_different_classes():
    labels = np.repeat(np.arange(10), 5)
    queries = retrieval_queries(labels, count=8)
    assert len(set(labels[queries])) == 8
    few = retrieval_queries(np.repeat([0, 1], 5), count=4)
    assert len(set(few)) == 4 and set(np.repeat([0, 1], 5)[few]) == {0, 1}


def test_figures_of_a_sample_of_about_one_image_per_class_use_all_images_centres(tmp_path):
    """As at SOP's scale: 1,500 of 60,502 images spread over 11,316 classes leave about one
    per class in the sample; centred on the sample alone every point was 0 (t-SNE crashed)."""
    from PIL import Image

    from dvml_tf.config import RunConfig
    from dvml_tf.data.splits import PATHS, ImageSplit
    from dvml_tf.evaluation.figures import write_figures

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(40), 2)
    paths = []
    for index in range(len(labels)):
        path = tmp_path / f"{index}.png"
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    embeddings = rng.normal(size=(len(labels), 8)).astype(np.float32)
    config = RunConfig.of(image_size=8, resize_size=10)
    drawn = write_figures(str(tmp_path / "run"), 5, embeddings, labels,
                          ImageSplit(np.array(paths), labels, PATHS), config, max_images=30)
    assert sorted(drawn) == ["central_latent_space", "retrieval", "tsne"]
    stored = np.load(tmp_path / "run" / "figures" / "test_embeddings.npz")
    assert int(stored["step"]) == 5 and stored["embeddings"].shape == (80, 8)


def test_links_in_the_figures_folder_are_replaced_never_written_through(tmp_path):
    """A link planted at a figure's or the npz's path (a run folder from someone else)
    must not rewrite the file it names: each file is written beside it and renamed."""
    from dvml_tf.config import RunConfig
    from dvml_tf.data.splits import ARRAY, ImageSplit
    from dvml_tf.evaluation.figures import write_figures

    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(6), 3)
    images = rng.integers(0, 255, (len(labels), 12, 12, 3), dtype=np.uint8)
    figures = tmp_path / "run" / "figures"
    projector = tmp_path / "run" / "logs" / "figures"
    figures.mkdir(parents=True)
    projector.mkdir(parents=True)
    victims = {}
    for link in (figures / "test_embeddings.npz", figures / "tsne.png",
                 figures / "retrieval.png", projector / "metadata.tsv",
                 projector / "sprite.png", projector / "projector_config.pbtxt"):
        victim = tmp_path / f"victim_{link.name}"
        victim.write_text("the user's own file")
        link.symlink_to(victim)
        victims[link] = victim
    write_figures(str(tmp_path / "run"), 1, rng.normal(size=(len(labels), 4)).astype("f4"),
                  labels, ImageSplit(images, labels, ARRAY), RunConfig.of(image_size=8,
                                                                       resize_size=10))
    for link, victim in victims.items():
        assert victim.read_text() == "the user's own file"
        assert link.is_file() and not link.is_symlink()
    assert not [p for p in os.listdir(figures) + os.listdir(projector) if ".tmp" in p]


def test_stored_embeddings_cut_short_are_drawn_again_not_a_traceback(tmp_path):
    from dvml_tf.evaluation.figures import EMBEDDINGS_FILE, stored_embeddings

    figures = tmp_path / "figures"
    figures.mkdir()
    np.savez(figures / EMBEDDINGS_FILE, embeddings=np.eye(3), labels=np.arange(3), step=5)
    assert stored_embeddings(str(tmp_path), 5) is not None
    data = (figures / EMBEDDINGS_FILE).read_bytes()
    (figures / EMBEDDINGS_FILE).write_bytes(data[:len(data) // 2])
    assert stored_embeddings(str(tmp_path), 5) is None
