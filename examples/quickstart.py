"""dvml_tf from Python: train a small DVML model on the bundled glyphs, embed the unseen
classes, measure them, search them, export the model for TensorFlow Serving.

    python examples/quickstart.py [--steps 300] [--out runs/quickstart]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ notices: errors only

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dvml_tf  # noqa: E402


def main(steps: int, out: str) -> None:
    # The glyphs: 82 characters x 40 renderings at 32 px; 41 characters train, 41 unseen test.
    train, test = dvml_tf.load_dataset("glyphs")
    keras.utils.set_random_seed(0)

    # DVML around a Keras backbone, on P x K batches (16 classes x 4 images).
    model = dvml_tf.dvml_model(dvml_tf.backbone("small_cnn", 32), embedding_dim=128,
                               metric_loss="margin_dws", images_per_class=4,
                               phase1_steps=steps // 2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batches = dvml_tf.pk_batches(train.images, train.labels, classes_per_batch=16,
                                 images_per_class=4)

    embedder = dvml_tf.Embedder.from_model(model, image_size=32, resize_size=32)
    before = dvml_tf.evaluate(embedder.embed(test.images), test.labels)
    model.fit(batches, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)

    # Embed the unseen classes and measure retrieval and clustering.
    embeddings = embedder.embed(test.images)
    after = dvml_tf.evaluate(embeddings, test.labels, recall_ks=(1, 2, 4, 8))
    for name in ("recall@1", "map@r", "nmi", "f1"):
        print(f"{name:9s} untrained {before[name]:.3f} -> trained {after[name]:.3f}")

    # A retrieval index over the test images, named by their characters; search it.
    names = [test.class_name(label) for label in test.labels]
    index = dvml_tf.RetrievalIndex(embeddings, names)
    query = 0
    neighbours = index.lookup(embeddings[query], k=5)[0]
    print(f"query {names[query]!r}: nearest", ", ".join(
        f"{name!r} ({distance:.2f})" for name, distance in neighbours[1:]))

    # Export for TensorFlow Serving, then embed through the export as a server would.
    version = dvml_tf.export(model, os.path.join(out, "export"), image_size=32,
                             model_name="glyphs")
    served = dvml_tf.load(version).embed(test.images[:8])
    print(f"exported {version}; max |served - in memory| = "
          f"{np.abs(served - embeddings[:8]).max():.1e}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/quickstart")
    arguments = parser.parse_args()
    main(arguments.steps, arguments.out)
