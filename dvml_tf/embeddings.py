"""Embeds a split with a trained model: L2-normalised z_I, as evaluation uses it."""
import numpy as np
import tensorflow as tf

from dvml_tf.data.pipeline import eval_dataset


def compute_embeddings(model, split, sizes, batch_size):
    """(embeddings [N, D] float32, labels [N]) in split order."""
    embed = tf.function(model.embed)
    embeddings, labels = [], []
    for images, batch_labels in eval_dataset(split, sizes, batch_size):
        embeddings.append(embed(images).numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(embeddings), np.concatenate(labels)
