"""Writing and reading the package's small files: a JSON file or a Keras weights file
written atomically, and the bytes of image files."""
import json
import os

from dvml_tf.errors import UserError, first_line

WEIGHTS_SUFFIX = ".weights.h5"  # the only name Keras 3 writes weights to


def write_json_atomically(path: str, value: object) -> None:
    """Writes `value` as JSON to `path` through a temporary file and a rename: a reader sees
    the old file or the whole new one."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w") as f:
            json.dump(value, f, indent=2, sort_keys=True)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_file(path: str) -> bytes:
    """The bytes of a file (an encoded image)."""
    with open(path, "rb") as f:
        return f.read()


def save_weights_atomically(model, out: str) -> None:
    """model.save_weights to a temporary file beside `out` (*.weights.h5), then renamed over
    it: no half-written `out`, and two processes writing at once each write a whole file."""
    partial = f"{out[:-len(WEIGHTS_SUFFIX)]}.{os.getpid()}.partial{WEIGHTS_SUFFIX}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        model.save_weights(partial)
        os.replace(partial, out)
    except (OSError, ImportError) as error:
        if os.path.exists(partial):
            os.remove(partial)
        raise UserError(f"--out={out}: cannot write ({first_line(error, 160)})") from None
