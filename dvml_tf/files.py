"""Writing and reading the package's small files: any file written atomically (a JSON
file, a figure, a Keras weights file), and the bytes of image files."""
import errno
import json
import os
import stat
from typing import Callable

from dvml_tf.errors import UserError, first_line, flag

WEIGHTS_SUFFIX = ".weights.h5"  # the only name Keras 3 writes weights to


def replace_atomically(path: str, write: Callable[[str], None]) -> None:
    """Calls write(temporary) for a new file beside `path` (<path>.<pid>.tmp<its extension>),
    then renames it over `path`: a link at `path` is replaced, never written through, and a
    reader sees the old file or all of the new one."""
    temporary = f"{path}.{os.getpid()}.tmp{os.path.splitext(path)[1]}"
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


def write_text_atomically(path: str, text: str) -> None:
    """replace_atomically of a text file."""
    def write(temporary):
        with open(temporary, "x") as f:
            f.write(text)

    replace_atomically(path, write)


def write_json_atomically(path: str, value: object) -> None:
    """Writes `value` as JSON to `path` through replace_atomically."""
    write_text_atomically(path, json.dumps(value, indent=2, sort_keys=True))


def read_file(path: str) -> bytes:
    """The bytes of a regular file (an encoded image); OSError for anything else, before
    it is opened (opening a FIFO waits for a writer for ever)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    with open(path, "rb") as f:
        return f.read()


def check_new_weights_file(out: str) -> None:
    """UserError unless `out` names a weights file Keras 3 writes and nothing is there."""
    if not out.endswith(WEIGHTS_SUFFIX):
        raise UserError(f"{flag('out')}={out}: name the weights file *{WEIGHTS_SUFFIX} (Keras 3 "
                        "writes no other)")
    if os.path.lexists(out):
        raise UserError(f"{flag('out')}={out}: already exists; choose another name or move it away")


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
        raise UserError(f"{flag('out')}={out}: cannot write ({first_line(error, 160)})") from None
