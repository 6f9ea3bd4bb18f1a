"""A retrieval index over an exported model: embed a gallery folder, then query it
(the command line: dvml_tf/cli/index.py).

`build_index` embeds every image under --images (recursively) with the export (the
package's one Embedder, skipping what it cannot embed) and stores an exact faiss index
with the image paths in --index: a folder it creates (or an empty one), marked as its
own; it refuses any other folder, so it never deletes or overwrites a user's files, and
replaces its index file atomically.
`query_index` gives, per query image, its k nearest gallery images and their Euclidean
distances (embeddings are unit vectors).
"""
import logging
import os
import uuid
from typing import Dict, List, Tuple

from dvml_tf.data.images import usable_images
from dvml_tf.embedder import Embedder, load
from dvml_tf.errors import UserError, flag
from dvml_tf.retrieval import RetrievalIndex
from dvml_tf.serving.export import resolve_export

INDEX_FILE = "index.npz"
MARKER_FILE = "DVML_INDEX"
MARKER_TEXT = ("A dvml_tf retrieval index: `python -m dvml_tf.cli.index build` replaces the "
               f"{INDEX_FILE} in this folder, and writes into no folder without this file.\n")


def export_embedder(export_path: str) -> Tuple[str, Embedder]:
    """(the export's resolved version folder, its Embedder): the package's one embedder,
    which skips with embed_files what it refuses with embed."""
    path = resolve_export(export_path)
    return path, load(path)


def gallery_files(root: str) -> List[str]:
    if not os.path.isdir(root):
        raise UserError(f"{flag('images')}={root}: no such directory")
    paths = sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                   for name in names)
    images = usable_images(paths)
    skipped = sorted(set(paths) - set(images))
    if skipped:
        logging.warning("skipped %d files that are not images TensorFlow decodes exactly: %s%s",
                        len(skipped), ", ".join(skipped[:5]), ", ..." if len(skipped) > 5 else "")
    if not images:
        raise UserError(f"{flag('images')}={root}: no images found")
    return images


def check_index_folder(index_dir: str) -> None:
    """Refuses an --index that is a file or a folder of someone else's: the index writes
    only into a new or empty folder, or one holding its marker, so no user file is lost."""
    if os.path.lexists(index_dir) and not os.path.isdir(index_dir):
        raise UserError(f"{flag('index')}={index_dir}: is a file, not an index folder")
    if (os.path.isdir(index_dir) and os.listdir(index_dir)
            and not os.path.isfile(os.path.join(index_dir, MARKER_FILE))):
        raise UserError(f"{flag('index')}={index_dir}: a folder that is not a dvml_tf index "
                        f"(no {MARKER_FILE} file); name a new folder")


def claim_index_folder(index_dir: str) -> None:
    """Creates the checked index folder if needed and marks it as the index's own."""
    try:
        os.makedirs(index_dir, exist_ok=True)
        marker = os.path.join(index_dir, MARKER_FILE)
        if not os.path.isfile(marker):
            with open(marker, "w") as f:
                f.write(MARKER_TEXT)
    except OSError as error:
        raise UserError(f"{flag('index')}={index_dir}: cannot create ({error.strerror})") from None


def write_index_file(index_dir: str, index: RetrievalIndex) -> None:
    """Writes the index file, replaced atomically."""
    target = os.path.join(index_dir, INDEX_FILE)
    staging = f"{target}.{uuid.uuid4().hex}.partial"
    try:
        index.save(staging)
        os.replace(staging, target)
    except OSError as error:
        raise UserError(f"{flag('index')}={index_dir}: cannot write the index ({error.strerror}); "
                        "the previous index is unchanged") from None
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def build_index(export_path: str, image_root: str, index_dir: str, batch_size: int = 32) -> int:
    """Embeds the gallery and writes the index into its own folder; returns its size."""
    check_index_folder(index_dir)
    images = gallery_files(image_root)
    export, embedder = export_embedder(export_path)
    embeddings, paths, skipped = embedder.embed_files(images, batch_size)
    for path, reason in skipped.items():
        logging.warning("skipped %s: %s", path, reason)
    if not paths:
        raise UserError(f"{flag('images')}={image_root}: no image could be decoded")
    claim_index_folder(index_dir)
    index = RetrievalIndex(embeddings, [os.path.abspath(path) for path in paths],
                           {"export": os.path.abspath(export)})
    write_index_file(index_dir, index)
    return len(paths)


def read_index(index_dir: str) -> Tuple[RetrievalIndex, str]:
    """(the index, rows named by gallery paths; its export's path) of a built index."""
    try:
        index = RetrievalIndex.load(os.path.join(index_dir, INDEX_FILE))
        export = index.metadata["export"]
    except (UserError, KeyError):
        raise UserError(f"{flag('index')}={index_dir}: no index there; run `build` first") from None
    if not isinstance(export, str):
        raise UserError(f"{flag('index')}={index_dir}: its metadata names no export; build it "
                        "again")
    return index, export


def query_index(index_dir: str, query_paths: List[str], k: int
                ) -> Tuple[List[dict], Dict[str, str]]:
    """([{"query": path, "neighbors": [{"image": path, "distance": d}, ...]}, ...] for
    every query image that could be embedded, {path: why not} for the others)."""
    index, export_path = read_index(index_dir)
    embeddings, kept, failed = export_embedder(export_path)[1].embed_files(list(query_paths))
    if kept and embeddings.shape[1] != index.dim:
        raise UserError(f"{flag('index')}={index_dir}: {export_path} now gives "
                        f"{embeddings.shape[1]}-d embeddings, the index holds {index.dim}-d "
                        "ones; build it again")
    answered = [{"query": path,
                 "neighbors": [{"image": image, "distance": distance} for image, distance in row]}
                for path, row in zip(kept, index.lookup(embeddings, k))] if kept else []
    return answered, failed
