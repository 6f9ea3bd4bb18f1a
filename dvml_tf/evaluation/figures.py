"""Figures of what a trained model learned (the command line: dvml_tf/cli/visualize.py).

Writes into <model_dir>/figures/ and TensorBoard (<model_dir>/logs/visualize):
- tsne.png: Barnes-Hut t-SNE of the test embeddings (L2-normalised z_I), coloured by
  class, with image thumbnails (the paper's Fig. 4);
- central_latent_space.png: t-SNE of each embedding minus its class centre (the paper's
  Fig. 1): if the intra-class variation is shared across classes, colours mix;
- retrieval.png: query images and their nearest test neighbours, each bordered green
  (same class as the query) or red;
- a TensorBoard projector of the test embeddings named by the step they come from, with
  their labels, class names and a sprite of thumbnails.
Every image goes to TensorBoard at the run's trained step.
"""
import os
from typing import Callable, Iterable, Optional

import numpy as np
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.data.splits import ImageSplit

THUMBNAIL = 32
# t-SNE colours come from tab20: a legend names the classes while there are this few.
LEGEND_CLASSES = 20
RETRIEVAL_QUERIES = 8
RETRIEVAL_NEIGHBOURS = 6
RETRIEVAL_CELL = 72  # pixels per image in the retrieval grid, border included
RETRIEVAL_BORDER = 5
SAME_CLASS, OTHER_CLASS, QUERY = (40, 170, 60), (215, 40, 40), (90, 90, 90)
FIGURE_DESCRIPTIONS = {
    "tsne": "t-SNE of the test embeddings (L2-normalised z_I), coloured by class.",
    "central_latent_space": "t-SNE of each test embedding minus its class centre (the "
                            "paper's Fig. 1): mixed colours = variation shared by classes.",
    "retrieval": "Queries (grey) and their nearest test neighbours: green = same class, "
                 "red = another class.",
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
    figure.savefig(path)
    plt.close(figure)


def thumbnails_of(split: ImageSplit, indices: Iterable[int], config: RunConfig) -> np.ndarray:
    """uint8 thumbnails [N, T, T, 3] of the evaluation crops."""
    load = split.image_loader()
    crops = [eval_preprocess(load(int(i)), config.resize_size, config.image_size)
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
    from PIL import Image
    from tensorboard.plugins import projector

    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "metadata.tsv"), "w") as f:
        f.write("label\tclass\n")
        f.writelines(f"{label}\t{names(label)}\n" for label in labels)
    Image.fromarray(sprite_of(thumbnails)).save(os.path.join(log_dir, "sprite.png"))
    tf.train.Checkpoint(**{name: tf.Variable(embeddings)}).save(
        os.path.join(log_dir, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([THUMBNAIL, THUMBNAIL])
    projector.visualize_embeddings(log_dir, config)


def retrieval_queries(labels: np.ndarray, count: int = RETRIEVAL_QUERIES,
                      seed: int = 0) -> np.ndarray:
    """Indices of `count` queries, each from a different class where there are enough."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(labels))[:count]
    queries = [rng.choice(np.flatnonzero(labels == label)) for label in classes]
    rest = np.setdiff1d(np.arange(len(labels)), queries)
    extra = rng.choice(rest, min(len(rest), count - len(queries)), replace=False)
    return np.concatenate([queries, extra]).astype(np.int64)


def retrieval_grid(embeddings: np.ndarray, labels: np.ndarray, thumbnails: np.ndarray,
                   queries: np.ndarray, k: int = RETRIEVAL_NEIGHBOURS) -> np.ndarray:
    """uint8 image: a row per query, the query (grey border) then its k nearest neighbours
    (the query itself left out), each bordered green if it shares the query's class, red
    if not."""
    from PIL import Image

    cell, inner = RETRIEVAL_CELL, RETRIEVAL_CELL - 2 * RETRIEVAL_BORDER
    grid = np.full((len(queries) * cell, (k + 1) * cell + cell // 2, 3), 255, np.uint8)

    def place(row, column, index, colour):
        x = column * cell + (cell // 2 if column else 0)
        grid[row * cell:(row + 1) * cell, x:x + cell] = colour
        image = Image.fromarray(thumbnails[index]).resize((inner, inner), Image.NEAREST)
        grid[row * cell + RETRIEVAL_BORDER:(row + 1) * cell - RETRIEVAL_BORDER,
             x + RETRIEVAL_BORDER:x + cell - RETRIEVAL_BORDER] = np.asarray(image)

    for row, query in enumerate(queries):
        distances = np.linalg.norm(embeddings - embeddings[query], axis=1)
        distances[query] = np.inf
        place(row, 0, query, QUERY)
        for column, neighbour in enumerate(np.argsort(distances, kind="stable")[:k], start=1):
            place(row, column, neighbour,
                  SAME_CLASS if labels[neighbour] == labels[query] else OTHER_CLASS)
    return grid
