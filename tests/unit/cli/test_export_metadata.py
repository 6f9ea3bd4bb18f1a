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
