"""What a trained DVML run's synthesized samples look like, on its own training images.

    .venv/bin/python benchmarks/dvml_diagnostics.py RUN_DIR [RUN_DIR ...]

For each run (a --model_dir trained with --dvml) prints, over up to --images training
images spread across classes:
- the mean norms of z_I, mu and z_V = mu + sigma * eps, and the mean sigma;
- the mean cosine between a synthesized sample z_I + z_V and its z_I;
- synthesized Recall@1: how often the nearest real image (L2-normalised z_I, its own
  source excluded) to a synthesized sample has the sample's class; real Recall@1 is the
  same for the real embeddings. The metric loss on synthesized samples (L3) can only
  teach something when the first is well above chance.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def synthesized_recall_at_1(synthesized, real, labels):
    """Fraction of unit synthesized samples whose nearest unit real embedding (their own
    source excluded) has their label."""
    similarity = synthesized @ real.T
    np.fill_diagonal(similarity, -np.inf)
    return float(np.mean(labels[similarity.argmax(1)] == labels))


def diagnose(model_dir, max_images, seed=0):
    import tensorflow as tf

    from dvml_tf.data.datasets import load_splits
    from dvml_tf.data.pipeline import eval_dataset
    from dvml_tf.evaluation.figures import stratified_sample
    from dvml_tf.evaluation.metrics import l2_normalize, retrieval_metrics
    from dvml_tf.training.checkpoints import load_trained_model

    model, config = load_trained_model(model_dir)
    train, _ = load_splits(config.data.dataset, config.data.data_dir, config.data.split_file)
    chosen = stratified_sample(train.labels, max_images, seed)
    subset = type(train)(train.images[chosen], train.labels[chosen], train.kind)
    heads = tf.function(model.encode)
    parts, labels = [], []
    for images, batch_labels in eval_dataset(subset, config.image_sizes(training=False), 256):
        parts.append([t.numpy() for t in heads(images)])
        labels.append(batch_labels.numpy())
    z_invariant, mu, log_var = (np.concatenate(p) for p in zip(*parts))
    labels = np.concatenate(labels)
    sigma = np.exp(0.5 * log_var)
    z_variance = mu + sigma * np.random.default_rng(seed).standard_normal(mu.shape)
    synthesized = l2_normalize(z_invariant + z_variance)
    real = l2_normalize(z_invariant)
    return {
        "|z_I|": np.linalg.norm(z_invariant, axis=1).mean(),
        "|mu|": np.linalg.norm(mu, axis=1).mean(),
        "sigma": sigma.mean(),
        "|z_V|": np.linalg.norm(z_variance, axis=1).mean(),
        "cos(z_I+z_V, z_I)": np.mean(np.sum(synthesized * real, axis=1)),
        "synthesized R@1": synthesized_recall_at_1(synthesized, real, labels),
        "real R@1": retrieval_metrics(real, labels, [1])["recall@1"],
        "chance": float(np.mean([np.mean(labels == label) for label in labels])),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dirs", nargs="+")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    for model_dir in args.model_dirs:
        numbers = diagnose(model_dir, args.images)
        print(os.path.basename(os.path.normpath(model_dir)) + ": "
              + ", ".join(f"{name} {value:.3f}" for name, value in numbers.items()))


if __name__ == "__main__":
    main()
