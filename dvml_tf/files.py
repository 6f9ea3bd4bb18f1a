"""Writing and reading the package's small files: a JSON file written atomically, and the
bytes of image files."""
import json
import os


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
