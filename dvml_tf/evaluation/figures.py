"""Figures of what a trained model learned (the command line: dvml_tf/cli/visualize.py).

Writes into <model_dir>/figures/ and TensorBoard (<model_dir>/logs/visualize):
- tsne.png: Barnes-Hut t-SNE of the test embeddings (L2-normalised z_I), coloured by
  class, with image thumbnails (the paper's Fig. 4);
- central_latent_space.png: t-SNE of each embedding minus its class centre (the paper's
  Fig. 1): if the intra-class variation is shared across classes, colours mix;
- a TensorBoard projector config with the embeddings, a sprite of thumbnails and labels.
"""
import logging
import os
from typing import Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

from dvml_tf.config import RunConfig
from dvml_tf.data.datasets import load_splits
from dvml_tf.data.preprocessing import eval_preprocess
from dvml_tf.data.splits import ImageSplit
from dvml_tf.evaluation.model_evaluation import compute_embeddings
from dvml_tf.training.checkpoints import load_trained_model

THUMBNAIL = 32


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
         title: str, path: str, max_thumbnails: int = 120) -> None:
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
    axes.set_title(f"{title} ({len(labels)} images, {len(classes)} classes)")
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


def write_projector(log_dir: str, embeddings: np.ndarray, labels: np.ndarray,
                    thumbnails: np.ndarray) -> None:
    """Embeddings, labels (metadata.tsv) and a thumbnail sprite for TensorBoard's projector."""
    from PIL import Image
    from tensorboard.plugins import projector

    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "metadata.tsv"), "w") as f:
        f.writelines(f"{label}\n" for label in labels)
    side = int(np.ceil(np.sqrt(len(thumbnails))))
    sprite = np.zeros((side * THUMBNAIL, side * THUMBNAIL, 3), np.uint8)
    for index, image in enumerate(thumbnails):
        row, col = divmod(index, side)
        sprite[row * THUMBNAIL:(row + 1) * THUMBNAIL, col * THUMBNAIL:(col + 1) * THUMBNAIL] = image
    Image.fromarray(sprite).save(os.path.join(log_dir, "sprite.png"))
    variable = tf.Variable(embeddings, name="embeddings")
    tf.train.Checkpoint(embedding=variable).save(os.path.join(log_dir, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([THUMBNAIL, THUMBNAIL])
    projector.visualize_embeddings(log_dir, config)


def visualize(model_dir: str, data_dir: Optional[str] = None,
              max_images: int = 1500) -> Dict[str, str]:
    """Writes the figures and the projector files; returns the figure paths."""
    model, config = load_trained_model(model_dir)
    _, test = load_splits(config.dataset, data_dir or config.data_dir, config.split_file)
    chosen = stratified_sample(test.labels, max_images, config.seed)
    subset = type(test)(test.images[chosen], test.labels[chosen], test.kind)
    embeddings, labels = compute_embeddings(model, subset, config.image_sizes(training=False),
                                            config.eval_batch_size)
    thumbnails = thumbnails_of(subset, range(len(subset)), config)
    figures = os.path.join(model_dir, "figures")
    os.makedirs(figures, exist_ok=True)
    paths = {
        "tsne": os.path.join(figures, "tsne.png"),
        "central_latent_space": os.path.join(figures, "central_latent_space.png"),
    }
    logging.info("t-SNE of %d test embeddings", len(labels))
    plot(tsne(embeddings), labels, thumbnails, "t-SNE of test embeddings", paths["tsne"])
    plot(tsne(central_latent_space(embeddings, labels)), labels, None,
         "Central latent space (embedding minus class centre)", paths["central_latent_space"])
    log_dir = os.path.join(model_dir, "logs", "visualize")
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default(step=0):
        for name, figure in paths.items():
            image = tf.io.decode_png(tf.io.read_file(figure), channels=3)[tf.newaxis]
            tf.summary.image(name, image)
    writer.flush()
    write_projector(log_dir, embeddings, labels, thumbnails)
    return paths
