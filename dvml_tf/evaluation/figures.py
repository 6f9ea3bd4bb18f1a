"""Figures of what a trained model learned, drawn at a run's final evaluation from its
embeddings (and by dvml_tf/cli/visualize.py for any run).

Writes into <model_dir>/figures/ and TensorBoard (<model_dir>/logs/figures, group
4_figures):
- tsne.png: Barnes-Hut t-SNE of the test embeddings (L2-normalised z_I), coloured by
  class, with image thumbnails (the paper's Fig. 4);
- central_latent_space.png: t-SNE of each embedding minus its class centre (the paper's
  Fig. 1): if the intra-class variation is shared across classes, colours mix;
- retrieval.png: query images (their class named) and their nearest neighbours in the
  whole test set, each marked with a tick (same class as the query) or a cross;
- a TensorBoard projector of the test embeddings named by the step they come from, with
  their labels, class names and a sprite of thumbnails.
Every image goes to TensorBoard at the run's trained step.
"""
import contextlib
import logging
import os
import zipfile
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from dvml_tf import tensorboard_tags
from dvml_tf.config import RunConfig
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.data.splits import ImageSplit
from dvml_tf.errors import UserError, first_line, flag, out_of_space_is_user_error
from dvml_tf.files import replace_atomically, write_text_atomically
from dvml_tf.terminal import STATUS

THUMBNAIL = 32
# t-SNE colours come from tab20: a legend names the classes while there are this few.
LEGEND_CLASSES = 20
RETRIEVAL_QUERIES = 8
RETRIEVAL_NEIGHBOURS = 6
FIGURE_DESCRIPTIONS = {
    "tsne": "t-SNE of the test embeddings (L2-normalised z_I), coloured by class.",
    "central_latent_space": "t-SNE of each test embedding minus its class centre (the "
                            "paper's Fig. 1): mixed colours = variation shared by classes.",
    "retrieval": "Queries (grey, their class named) and their nearest neighbours in the "
                 "whole test set: tick and green = same class, cross and red = another.",
}


def stratified_sample(labels: np.ndarray, max_images: int, seed: int = 0) -> np.ndarray:
    """Indices of at most `max_images` items, as evenly spread over classes as possible."""
    if len(labels) <= max_images:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    # Round-robin over classes in random order until the budget is met.
    rank = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = order[labels[order] == label]
        rank[members] = np.arange(len(members))
    chosen = np.lexsort((order.argsort(), rank))[:max_images]
    return np.sort(chosen)


def central_latent_space(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each embedding minus the mean embedding of its class."""
    centred = embeddings.copy()
    for label in np.unique(labels):
        members = labels == label
        centred[members] -= embeddings[members].mean(axis=0)
    return centred


def tsne(points: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(5.0, (len(points) - 1) / 3.0))
    return TSNE(2, perplexity=perplexity, init="pca", method="barnes_hut",
                random_state=seed).fit_transform(points)


def plot(coordinates: np.ndarray, labels: np.ndarray, thumbnails: Optional[np.ndarray],
         title: str, path: str, names: Callable[[int], str] = str,
         max_thumbnails: int = 120) -> None:
    """A scatter of `coordinates` coloured by class, with a legend of class `names` where
    the classes are LEGEND_CLASSES or fewer (the title says so where they are more)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure, axes = plt.subplots(figsize=(10, 10), dpi=100)
    classes = np.unique(labels)
    colours = plt.cm.tab20(np.searchsorted(classes, labels) % 20)
    axes.scatter(coordinates[:, 0], coordinates[:, 1], c=colours, s=8)
    if thumbnails is not None:
        shown = np.random.default_rng(0).permutation(len(labels))[:max_thumbnails]
        for index in shown:
            box = AnnotationBbox(OffsetImage(thumbnails[index], zoom=0.8), coordinates[index],
                                 frameon=True, bboxprops=dict(edgecolor=colours[index], lw=2))
            axes.add_artist(box)
    if len(classes) <= LEGEND_CLASSES:
        handles = [plt.Line2D([], [], marker="o", linestyle="", color=plt.cm.tab20(i % 20),
                              label=names(label)) for i, label in enumerate(classes)]
        axes.legend(handles=handles, title="class", loc="best", fontsize=9)
        shown = f"{len(classes)} classes"
    else:
        shown = f"{len(classes)} classes, too many for a legend: colours repeat"
    axes.set_title(f"{title}\n({len(labels)} images, {shown})")
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    replace_atomically(path, figure.savefig)
    plt.close(figure)


def thumbnails_of(split: ImageSplit, indices: Iterable[int], config: RunConfig) -> np.ndarray:
    """uint8 thumbnails [N, T, T, 3] of the evaluation crops."""
    load = split.image_loader()
    crops = [eval_preprocess(load(int(i)), config.data.resize_size, config.data.image_size)
             for i in indices]
    small = tf.image.resize(tf.stack(crops), [THUMBNAIL, THUMBNAIL], antialias=True)
    return np.clip(small.numpy(), 0, 255).astype(np.uint8)


def sprite_of(thumbnails: np.ndarray) -> np.ndarray:
    """The thumbnails tiled row by row in a square image, as the projector reads a sprite."""
    side = int(np.ceil(np.sqrt(len(thumbnails))))
    sprite = np.zeros((side * THUMBNAIL, side * THUMBNAIL, 3), np.uint8)
    for index, image in enumerate(thumbnails):
        row, col = divmod(index, side)
        sprite[row * THUMBNAIL:(row + 1) * THUMBNAIL, col * THUMBNAIL:(col + 1) * THUMBNAIL] = image
    return sprite


def write_projector(log_dir: str, name: str, embeddings: np.ndarray, labels: np.ndarray,
                    names: Callable[[int], str], thumbnails: np.ndarray) -> None:
    """TensorBoard's projector of `embeddings` under `name`: the labels and class names
    (metadata.tsv) and a sprite of the thumbnails."""
    from google.protobuf import text_format
    from PIL import Image
    from tensorboard.plugins import projector

    os.makedirs(log_dir, exist_ok=True)
    write_text_atomically(os.path.join(log_dir, "metadata.tsv"), "label\tclass\n" + "".join(
        f"{label}\t{names(label)}\n" for label in labels))
    replace_atomically(os.path.join(log_dir, "sprite.png"),
                       Image.fromarray(sprite_of(thumbnails)).save)
    tf.train.Checkpoint(**{name: tf.Variable(embeddings)}).save(
        os.path.join(log_dir, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([THUMBNAIL, THUMBNAIL])
    # What projector.visualize_embeddings writes, written without following a link there.
    write_text_atomically(os.path.join(log_dir, "projector_config.pbtxt"),
                          text_format.MessageToString(config))


def retrieval_queries(labels: np.ndarray, count: int = RETRIEVAL_QUERIES,
                      seed: int = 0) -> np.ndarray:
    """Indices of `count` queries, each from a different class where there are enough."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(labels))[:count]
    queries = [rng.choice(np.flatnonzero(labels == label)) for label in classes]
    rest = np.setdiff1d(np.arange(len(labels)), queries)
    extra = rng.choice(rest, min(len(rest), count - len(queries)), replace=False)
    return np.concatenate([queries, extra]).astype(np.int64)


def retrieval_rows(embeddings: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                   k: int = RETRIEVAL_NEIGHBOURS) -> List[Tuple[int, List[int]]]:
    """(query, its k nearest neighbours among all `embeddings`, the query left out) per
    query, exact, ties broken by index."""
    rows = []
    for query in queries:
        distances = np.linalg.norm(embeddings - embeddings[query], axis=1)
        distances[query] = np.inf
        rows.append((int(query), [int(i) for i in np.argsort(distances, kind="stable")[:k]]))
    return rows


def draw_retrieval(rows: List[Tuple[int, List[int]]], labels: np.ndarray,
                   thumbnail: Callable[[int], np.ndarray], names: Callable[[int], str],
                   title: str, path: str) -> None:
    """The retrieval grid: a row per query (its class named), then its neighbours, each
    marked with a tick (same class) or a cross (another class) that survives greyscale
    printing, and bordered green or red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(rows[0][1]) + 1
    size = (1.3 * columns + 0.6, 1.35 * len(rows) + 0.7)
    figure, axes = plt.subplots(len(rows), columns, figsize=size, dpi=100, squeeze=False)
    for row, (query, neighbours) in enumerate(rows):
        for column, index in enumerate([query, *neighbours]):
            cell = axes[row, column]
            cell.imshow(thumbnail(index))
            cell.set_xticks([])
            cell.set_yticks([])
            if column == 0:
                cell.set_ylabel(names(labels[query]), rotation=0, ha="right", va="center",
                                fontsize=11)
                colour, mark = "#5a5a5a", None
            elif labels[index] == labels[query]:
                colour, mark = "#28aa3c", "\u2713"
            else:
                colour, mark = "#d72828", "\u2717"
            for spine in cell.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(4)
            if mark:
                cell.text(0.97, 0.03, mark, transform=cell.transAxes, ha="right", va="bottom",
                          fontsize=14, fontweight="bold", color="black",
                          bbox=dict(boxstyle="square,pad=0.1", facecolor="white",
                                    edgecolor="none"))
    axes[0, 0].set_title("query", fontsize=10)
    for column in range(1, columns):
        axes[0, column].set_title(f"{column}.", fontsize=10)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    replace_atomically(path, figure.savefig)
    plt.close(figure)


# The embeddings of the test set that the figures were drawn from, kept beside them so
# that `cli.visualize` redraws without embedding again.
EMBEDDINGS_FILE = "test_embeddings.npz"


@contextlib.contextmanager
def writing_figures_into(model_dir: str) -> Iterator[None]:
    """A folder that cannot be written (permissions, a file in the way, a full disk): one
    line naming it."""
    with out_of_space_is_user_error(f"{flag('model_dir')}={model_dir}"):
        try:
            yield
        except (OSError, tf.errors.PermissionDeniedError,
                tf.errors.FailedPreconditionError) as error:
            raise UserError(f"{flag('model_dir')}={model_dir}: cannot write the figures there "
                            f"({first_line(error, 160)})") from None


def write_figures(model_dir: str, step: int, embeddings: np.ndarray, labels: np.ndarray,
                  test: ImageSplit, config: RunConfig, max_images: int = 1500
                  ) -> Dict[str, str]:
    """Draws the figures of `embeddings` (the whole test split, in its order) into
    <model_dir>/figures and TensorBoard: the t-SNEs and the projector of a class-stratified
    sample of at most `max_images`, the retrieval grid searched in all of them. Returns
    the figure paths."""
    with writing_figures_into(model_dir):
        figures = os.path.join(model_dir, "figures")
        os.makedirs(figures, exist_ok=True)
        replace_atomically(os.path.join(figures, EMBEDDINGS_FILE), lambda temporary: np.savez(
            temporary, embeddings=embeddings, labels=labels, step=step))
        paths = {name: os.path.join(figures, f"{name}.png")
                 for name in ("tsne", "central_latent_space", "retrieval")}
        sample = stratified_sample(labels, max_images, config.training.seed)
        thumbnails = thumbnails_of(test, sample, config)
        STATUS.announce(f"figures: t-SNE of {len(sample):,} test embeddings")
        plot(tsne(embeddings[sample]), labels[sample], thumbnails,
             f"t-SNE of test embeddings, step {step}", paths["tsne"], test.class_name)
        # Centres from all test embeddings: a sample of SOP's 11,316 classes holds about one
        # image per class, whose own mean would make every point 0.
        central = central_latent_space(embeddings, labels)[sample]
        if np.any(central):
            plot(tsne(central), labels[sample], None,
                 f"Central latent space (embedding minus class centre), step {step}",
                 paths["central_latent_space"], test.class_name)
        else:  # every class a single image: there is no intra-class variation to draw
            logging.warning("no class has two test images: no central latent space figure")
            del paths["central_latent_space"]
        STATUS.clear()
        rows = retrieval_rows(embeddings, labels,
                              retrieval_queries(labels, seed=config.training.seed))
        shown = sorted({index for query, neighbours in rows for index in [query, *neighbours]})
        small = dict(zip(shown, thumbnails_of(test, shown, config)))
        draw_retrieval(rows, labels, small.__getitem__, test.class_name,
                       f"Unseen queries and their {len(rows[0][1])} nearest of all "
                       f"{len(labels):,} test images, step {step} (\u2713 same class, "
                       "\u2717 another)", paths["retrieval"])
        log_dir = os.path.join(model_dir, "logs", "figures")
        writer = tf.summary.create_file_writer(log_dir)
        with writer.as_default(step=step):
            for name, figure in paths.items():
                image = tf.io.decode_png(tf.io.read_file(figure), channels=3)[tf.newaxis]
                tf.summary.image(f"{tensorboard_tags.FIGURES}/{name}", image,
                                 description=FIGURE_DESCRIPTIONS[name])
        writer.flush()
        write_projector(log_dir, f"test_embeddings_step_{step}", embeddings[sample],
                        labels[sample], test.class_name, thumbnails)
    return paths


def stored_embeddings(model_dir: str, step: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(embeddings, labels) that write_figures kept for `step`, or None."""
    path = os.path.join(model_dir, "figures", EMBEDDINGS_FILE)
    try:
        with np.load(path) as stored:
            if int(stored["step"]) == step:
                return stored["embeddings"], stored["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # cut short
        pass
    return None
