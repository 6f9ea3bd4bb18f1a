"""RetrievalIndex: exact nearest-neighbour search over embeddings (faiss), each row with a
name (a label, a file path), saved and loaded as one .npz file. The index command
(dvml_tf/cli/index.py) builds it over a folder of images; the Python API over any arrays."""
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import faiss
import numpy as np

from dvml_tf.errors import UserError
from dvml_tf.files import replace_atomically


class RetrievalIndex:
    """Euclidean k-nearest-neighbour search among `embeddings` [N, D] (unit embeddings: the
    order of cosine similarity), `names[i]` naming row i (default: its number); `metadata`
    is kept with it (the index command records the export there)."""

    def __init__(self, embeddings: np.ndarray, names: Optional[Sequence] = None,
                 metadata: Optional[Dict[str, str]] = None):
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or not len(embeddings):
            raise UserError(f"embeddings of shape {embeddings.shape}: need [N, D], N >= 1")
        if not np.isfinite(embeddings).all():
            raise UserError("embeddings hold NaN or infinite values")
        self.names = list(range(len(embeddings)) if names is None else names)
        if len(self.names) != len(embeddings):
            raise UserError(f"{len(self.names)} names for {len(embeddings)} embeddings")
        self.metadata = dict(metadata or {})
        self._index = faiss.IndexFlatL2(embeddings.shape[1])
        self._index.add(embeddings)

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def dim(self) -> int:
        """The embeddings' dimension."""
        return self._index.d

    def search(self, queries: np.ndarray, k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        """(distances [Q, k'], row numbers [Q, k']) of each query's k' = min(k, N) nearest
        rows, nearest first. ValueError for a k below 1, queries of another dimension, or
        with NaN or infinite values (which have no nearest rows)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k={k!r}: a whole number >= 1")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self._index.d:
            raise ValueError(f"queries of shape {queries.shape}: need [Q, {self._index.d}]")
        if not np.isfinite(queries).all():
            raise ValueError("queries hold NaN or infinite values")
        squared, rows = self._index.search(queries, min(k, len(self)))
        return np.sqrt(np.maximum(squared, 0.0)), rows

    def lookup(self, queries: np.ndarray, k: int = 5) -> List[List[Tuple[object, float]]]:
        """Per query, its k nearest rows as (name, distance), nearest first."""
        distances, rows = self.search(queries, k)
        return [[(self.names[j], float(d)) for d, j in zip(row_d, row_j)]
                for row_d, row_j in zip(distances, rows)]

    def save(self, path: str, overwrite: bool = False) -> None:
        """Writes the index, its names (text or whole numbers) and metadata (JSON) to `path`
        (.npz), whole or not at all; an existing file is a one-line UserError unless
        `overwrite`."""
        names = np.asarray(self.names)
        if names.ndim != 1 or names.dtype.kind not in "iuU":
            raise ValueError("names: text or whole numbers, one per row, to be saved")
        metadata = np.array(json.dumps(self.metadata))  # TypeError: not JSON
        if os.path.lexists(path) and not overwrite:
            raise UserError(f"{path}: already exists (pass overwrite=True to replace it)")
        def write(temporary):
            with open(temporary, "xb") as f:  # a file object: np.savez adds no .npz
                np.savez(f, faiss_index=faiss.serialize_index(self._index), names=names,
                         metadata=metadata)

        replace_atomically(path, write)

    @classmethod
    def load(cls, path: str) -> "RetrievalIndex":
        """The index `save` wrote; a one-line UserError if `path` holds anything else: only
        the exact (flat L2) index it writes is accepted, with one name per row."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                index = faiss.deserialize_index(stored["faiss_index"])  # of its own type
                names = stored["names"]
                metadata = json.loads(str(stored["metadata"]))
        except (OSError, ValueError, KeyError, RuntimeError, EOFError, TypeError):
            raise UserError(f"{path}: not a saved retrieval index") from None
        if (type(index) is not faiss.IndexFlatL2 or names.ndim != 1
                or names.dtype.kind not in "iuU" or index.ntotal != len(names)
                or index.d < 1 or not isinstance(metadata, dict)):
            raise UserError(f"{path}: not a retrieval index dvml_tf saved (another index "
                            "type, or names that do not match its rows)")
        loaded = cls.__new__(cls)
        loaded._index, loaded.names, loaded.metadata = index, names.tolist(), metadata
        return loaded
