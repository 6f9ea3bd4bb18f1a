"""RetrievalIndex: exact nearest-neighbour search over embeddings (faiss), each row with a
name (a label, a file path), saved and loaded as one .npz file. The index command
(dvml_tf/cli/index.py) builds it over a folder of images; the Python API over any arrays."""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import faiss
import numpy as np

from dvml_tf.errors import UserError


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

    def search(self, queries: np.ndarray, k: int = 5) -> Tuple[np.ndarray, np.ndarray]:
        """(distances [Q, k'], row numbers [Q, k']) of each query's k' = min(k, N) nearest
        rows, nearest first."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        squared, rows = self._index.search(queries, min(k, len(self)))
        return np.sqrt(np.maximum(squared, 0.0)), rows

    def lookup(self, queries: np.ndarray, k: int = 5) -> List[List[Tuple[object, float]]]:
        """Per query, its k nearest rows as (name, distance), nearest first."""
        distances, rows = self.search(queries, k)
        return [[(self.names[j], float(d)) for d, j in zip(row_d, row_j)]
                for row_d, row_j in zip(distances, rows)]

    def save(self, path: str, overwrite: bool = False) -> None:
        """Writes the index, its names and metadata to `path` (.npz); an existing file is
        a one-line UserError unless `overwrite`."""
        try:
            f = open(path, "wb" if overwrite else "xb")
        except FileExistsError:
            raise UserError(f"{path}: already exists (pass overwrite=True to replace it)"
                            ) from None
        with f:
            np.savez(f, faiss_index=faiss.serialize_index(self._index),
                     names=np.asarray(self.names), metadata=np.array(json.dumps(self.metadata)))

    @classmethod
    def load(cls, path: str) -> "RetrievalIndex":
        """The index `save` wrote; a one-line UserError if `path` holds none."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                index = faiss.deserialize_index(stored["faiss_index"])
                names = stored["names"].tolist()
                metadata = json.loads(str(stored["metadata"]))
        except (OSError, ValueError, KeyError, RuntimeError):
            raise UserError(f"{path}: not a saved retrieval index") from None
        loaded = cls.__new__(cls)
        loaded._index, loaded.names, loaded.metadata = index, names, metadata
        return loaded
