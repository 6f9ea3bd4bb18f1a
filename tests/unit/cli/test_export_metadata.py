"""An export folder whose metadata was edited by hand is exported into anew, not a
traceback."""
import json

from dvml_tf.serving.export import METADATA_FILE, identical_latest_version


def test_metadata_that_is_not_an_object_is_not_the_same_export(tmp_path):
    extra = tmp_path / "1" / "assets.extra"
    extra.mkdir(parents=True)
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"")
    (extra / METADATA_FILE).write_text(json.dumps(["a", "list"]))
    assert identical_latest_version(str(tmp_path), {}) is None


def test_a_savedmodel_whose_signatures_have_no_embeddings_is_not_an_export(tmp_path):
    """Signatures of the right names but another output: one line, not KeyError."""
    import pytest
    import tensorflow as tf

    from dvml_tf.errors import UserError
    from dvml_tf.serving.export import load_export

    module = tf.Module()
    module.f = tf.function(lambda image_bytes: {"scores": tf.zeros([1])},
                           input_signature=[tf.TensorSpec([None], tf.string)])
    module.g = tf.function(lambda images: {"scores": tf.zeros([1])},
                           input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "m"),
                        signatures={"serving_default": module.f, "serve_images": module.g})
    with pytest.raises(UserError, match="its serving_default has no embeddings output"):
        load_export(str(tmp_path / "m"))
