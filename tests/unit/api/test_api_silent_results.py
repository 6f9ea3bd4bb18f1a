"""Inputs that used to give a plausible wrong answer now say what is wrong: a NaN query, a
recall at K = 0, pixels of another convention, float labels, crafted index files."""
import json

import faiss
import numpy as np
import pytest

import dvml_tf
from dvml_tf.errors import UserError

EMBEDDINGS = np.eye(4, dtype=np.float32)


@pytest.mark.parametrize("queries,k,message", [
    (np.full((1, 4), np.nan, np.float32), 2, "queries hold NaN or infinite values"),
    (np.ones((1, 3), np.float32), 2, r"queries of shape \(1, 3\): need \[Q, 4\]"),
    (np.ones((1, 4), np.float32), 0, "k=0: a whole number >= 1"),
])
def test_a_query_with_no_nearest_rows_is_refused(queries, k, message):
    index = dvml_tf.RetrievalIndex(EMBEDDINGS, names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=message):
        index.lookup(queries, k=k)


@pytest.mark.parametrize("recall_ks", [(0,), (), (1.5,)])
def test_evaluate_refuses_a_recall_at_a_k_that_is_not_a_whole_number_above_0(recall_ks):
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="recall_ks=.*: one or more whole numbers K >= 1"):
        dvml_tf.evaluate(EMBEDDINGS, labels, recall_ks=recall_ks)


@pytest.mark.parametrize("pixels,message", [
    (np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)), r"float pixels all in \[0, 1\]"),
    (np.full((2, 8, 8, 3), 300.0), r"pixels from 300.0 to 300.0 \(float64\); need values"),
    (np.full((2, 8, 8, 3), 4000, np.uint16), r"pixels from 4000 to 4000 \(uint16\)"),
    (np.full((2, 8, 8, 3), np.nan, np.float32), "pixels hold NaN or infinite values"),
    (np.zeros((2, 8, 8, 1), np.uint8), r"pixels of shape \(2, 8, 8, 1\); need"),
])
def test_pixels_outside_0_to_255_are_refused_by_the_embedder_and_pk_batches(pixels, message):
    from helpers import tiny_model

    embedder = dvml_tf.Embedder.from_model(tiny_model(), 16, 16)
    with pytest.raises(ValueError, match=message):
        embedder.embed(pixels)
    with pytest.raises(ValueError, match=message):
        dvml_tf.pk_batches(pixels, [0, 1], classes_per_batch=2, images_per_class=1)


def test_pk_batches_refuses_labels_that_are_not_whole_numbers():
    pixels = np.zeros((6, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="labels: whole numbers"):
        dvml_tf.pk_batches(pixels, [0.2, 0.7, 1.2, 1.7, 2.2, 2.7], 2, 2)


def _save(path, index, names, metadata=None):
    np.savez(path, faiss_index=faiss.serialize_index(index), names=np.asarray(names),
             metadata=np.array(json.dumps(metadata or {})))


@pytest.mark.parametrize("make,names", [
    (lambda: faiss.IndexIDMap(faiss.IndexFlatL2(4)), ["a", "b", "c", "d"]),
    (lambda: faiss.IndexFlatIP(4), ["a", "b", "c", "d"]),
    (lambda: faiss.IndexFlatL2(4), ["a", "b"]),
])
def test_an_index_file_dvml_tf_did_not_write_is_refused(tmp_path, make, names):
    index = make()
    if isinstance(index, faiss.IndexIDMap):
        index.add_with_ids(EMBEDDINGS, np.array([0, 1, 2, -5], np.int64))
    else:
        index.add(EMBEDDINGS)
    _save(tmp_path / "i.npz", index, names)
    with pytest.raises(UserError, match="not a retrieval index dvml_tf saved"):
        dvml_tf.RetrievalIndex.load(str(tmp_path / "i.npz"))


@pytest.mark.parametrize("names", [[None] * 4, [1, "b", None, "d"]])
def test_names_that_cannot_be_saved_leave_no_file(tmp_path, names):
    index = dvml_tf.RetrievalIndex(EMBEDDINGS, names=names)
    with pytest.raises(ValueError, match="names: text or whole numbers"):
        index.save(str(tmp_path / "i.npz"))
    assert not list(tmp_path.iterdir())
    index = dvml_tf.RetrievalIndex(EMBEDDINGS, names=list("abcd"), metadata={"x": object()})
    with pytest.raises(TypeError):
        index.save(str(tmp_path / "i.npz"))
    assert not list(tmp_path.iterdir())
