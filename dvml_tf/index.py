"""A retrieval index over an exported model: embed a gallery folder, then query it.

    python -m dvml_tf.index build --export=saved_models/dvml_digits --images=gallery/ \\
        --index=gallery_index
    python -m dvml_tf.index query --index=gallery_index --k=5 query1.jpg query2.png

`build` embeds every image under --images (recursively) with the export's
serving_default signature and stores an exact faiss index with the image paths.
`query` prints, per query image, one JSON line with its k nearest gallery images and
their Euclidean distances (embeddings are unit vectors).
"""
import json
import logging
import os
import shutil

import faiss
import numpy as np
from absl import flags

from dvml_tf.cli import run_command
from dvml_tf.data.folder import looks_like_image
from dvml_tf.errors import UserError

INDEX_FILE = "embeddings.faiss"
PATHS_FILE = "paths.json"


def resolve_export(path):
    """A SavedModel folder: `path` itself, or its newest integer version."""
    from dvml_tf.export import versions

    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    found = versions(path)
    if not found:
        raise UserError(f"--export={path}: neither a SavedModel nor a folder of versions")
    return os.path.join(path, str(found[-1]))


class ExportedEmbedder:
    """Embeds encoded images with an export's serving_default signature."""

    def __init__(self, export_path):
        import tensorflow as tf

        self._tf = tf
        self.path = resolve_export(export_path)
        self._serve = tf.saved_model.load(self.path).signatures["serving_default"]

    def __call__(self, encoded_images):
        return self._serve(image_bytes=self._tf.constant(encoded_images))["embeddings"].numpy()

    def embed_files(self, paths, batch_size=32):
        """(embeddings, kept paths); files that fail to decode are skipped and counted."""
        kept, chunks, skipped = [], [], []
        for start in range(0, len(paths), batch_size):
            batch = paths[start:start + batch_size]
            encoded = [open(p, "rb").read() for p in batch]
            try:
                chunks.append(self(encoded))
                kept.extend(batch)
            except self._tf.errors.InvalidArgumentError:
                for path, data in zip(batch, encoded):  # find the culprit(s)
                    try:
                        chunks.append(self([data]))
                        kept.append(path)
                    except self._tf.errors.InvalidArgumentError:
                        skipped.append(path)
        if skipped:
            logging.warning("skipped %d images that do not decode, e.g. %s", len(skipped),
                            ", ".join(skipped[:5]))
        return (np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)), kept


def gallery_files(root):
    if not os.path.isdir(root):
        raise UserError(f"--images={root}: no such directory")
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names)
    images = [p for p in paths if looks_like_image(p)]
    if len(images) < len(paths):
        logging.warning("skipped %d files that are not images", len(paths) - len(images))
    if not images:
        raise UserError(f"--images={root}: no images found")
    return images


def build_index(export_path, image_root, index_dir, batch_size=32):
    """Embeds the gallery and writes the index folder atomically; returns its size."""
    embedder = ExportedEmbedder(export_path)
    embeddings, paths = embedder.embed_files(gallery_files(image_root), batch_size)
    if not paths:
        raise UserError(f"--images={image_root}: no image could be decoded")
    index = faiss.IndexFlatL2(embeddings.shape[1])
    index.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    staging = index_dir.rstrip("/") + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    faiss.write_index(index, os.path.join(staging, INDEX_FILE))
    with open(os.path.join(staging, PATHS_FILE), "w") as f:
        json.dump({"export": os.path.abspath(embedder.path),
                   "paths": [os.path.abspath(p) for p in paths]}, f, indent=1)
    shutil.rmtree(index_dir, ignore_errors=True)
    os.rename(staging, index_dir)
    return len(paths)


def query_index(index_dir, query_paths, k):
    """[{"query": path, "neighbors": [{"image": path, "distance": d}, ...]}, ...]."""
    try:
        index = faiss.read_index(os.path.join(index_dir, INDEX_FILE))
        with open(os.path.join(index_dir, PATHS_FILE)) as f:
            stored = json.load(f)
    except (OSError, RuntimeError):
        raise UserError(f"--index={index_dir}: no index there; run `build` first") from None
    for path in query_paths:
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such query image")
    embedder = ExportedEmbedder(stored["export"])
    embeddings, kept = embedder.embed_files(list(query_paths))
    if len(kept) < len(query_paths):
        bad = sorted(set(query_paths) - set(kept))
        raise UserError(f"{bad[0]}: cannot decode the query image")
    distances, neighbors = index.search(embeddings, min(k, index.ntotal))
    return [{"query": path,
             "neighbors": [{"image": stored["paths"][j], "distance": float(np.sqrt(max(d, 0)))}
                           for d, j in zip(row_d, row_n)]}
            for path, row_d, row_n in zip(query_paths, distances, neighbors)]


FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags; defined on use so that importing stays side-effect free."""
    flags.DEFINE_string("export", "saved_models/dvml_digits", "An export, or its model folder.")
    flags.DEFINE_string("images", None, "build: the gallery folder.")
    flags.DEFINE_string("index", None, "The index folder.")
    flags.DEFINE_integer("k", 5, "query: neighbours per query image.")
    flags.DEFINE_integer("batch_size", 32, "build: images embedded per call.")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("build", "query"):
        raise UserError("usage: python -m dvml_tf.index build|query [flags] [images]")
    if not FLAGS.index:
        raise UserError("--index is required")
    if FLAGS.k < 1:
        raise UserError(f"--k={FLAGS.k} must be positive")
    if argv[1] == "build":
        if not FLAGS.images:
            raise UserError("--images is required with build")
        count = build_index(FLAGS.export, FLAGS.images, FLAGS.index, FLAGS.batch_size)
        print(f"indexed {count} images into {FLAGS.index}")
    else:
        if len(argv) < 3:
            raise UserError("name at least one query image")
        for result in query_index(FLAGS.index, argv[2:], FLAGS.k):
            print(json.dumps(result))


def run():
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
