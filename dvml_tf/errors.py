"""How failures reach the user: UserError, a one-line message and exit status 2; a full
disk is one of them, and leaves no half-written files behind."""
import contextlib
import errno
import glob
import importlib
import os
import re
import shutil
from typing import Iterable, Iterator

OUT_OF_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# How TensorFlow's C++ file writers report the same errnos (as tf.errors.OpError).
OUT_OF_SPACE_MESSAGES = ("No space left on device", "Disk quota exceeded", "File too large")


class UserError(ValueError):
    """Bad input from the user (flag, file, image): printed as one line, exit status 2. A
    ValueError, so that a Python caller's `except ValueError` holds it."""


# How a message names a setting: as its flag (--model_dir) while a command runs, by its
# bare name (the Python argument or RunConfig field) otherwise. A module global, not a
# context variable: the commands' worker threads raise messages too.
_FLAG_PREFIX = [""]


def flag_prefix() -> str:
    """"--" while a command line runs, "" in Python."""
    return _FLAG_PREFIX[0]


def flag(name: str) -> str:
    """The setting `name` as the user gave it: --name on the command line, name in Python."""
    return _FLAG_PREFIX[0] + name


@contextlib.contextmanager
def settings_named_as_flags() -> Iterator[None]:
    """Messages name settings as flags while a command runs (dvml_tf.cli.common)."""
    _FLAG_PREFIX[0] = "--"
    try:
        yield
    finally:
        _FLAG_PREFIX[0] = ""


# What TensorFlow wraps around an op's message: "{{function_node ...}}" and "[Op:Name] ...".
TF_OP_DECORATION = re.compile(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*$")


def one_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of `text` without TensorFlow's op decoration; one longer
    than `limit` characters is cut at a word boundary and ends in '...'."""
    line = TF_OP_DECORATION.sub("", (text.strip().splitlines() or [""])[0]).strip()
    if len(line) <= limit:
        return line
    return line[:limit - 3].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none): the
    reason quoted in a UserError."""
    return one_line(str(error), limit) or type(error).__name__


def is_out_of_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in OUT_OF_SPACE_ERRNOS:
        return True
    return any(message in str(error) for message in OUT_OF_SPACE_MESSAGES)


def remove_debris(patterns: Iterable[str]) -> None:
    """Deletes the files and folders matching `patterns`: what a failed write left."""
    for pattern in patterns:
        for path in glob.glob(pattern):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)


@contextlib.contextmanager
def out_of_space_is_user_error(where: str, debris: Iterable[str] = ()) -> Iterator[None]:
    """Turns a full disk inside the block into a UserError naming `where`, after removing
    the `debris` (glob patterns of partial files that only the failed write made)."""
    try:
        yield
    except Exception as error:
        if not is_out_of_space(error):
            raise
        remove_debris(debris)
        raise UserError(f"{where}: no space left on the device; free some and run again "
                        "(what was saved before is intact)") from None


# Optional parts and the extra of setup.py that installs each.
EXTRAS = {"cv2": ("opencv-python-headless", "datasets"), "scipy": ("scipy", "datasets"),
          "tensorflow_serving": ("tensorflow-serving-api", "serving"),
          "grpc": ("grpcio", "serving")}


def require_extra(module: str, purpose: str) -> None:
    """Raises a one-line UserError naming the extra to install when `module` (a key of
    EXTRAS) does not import."""
    try:
        importlib.import_module(module)
    except ImportError:
        package, extra = EXTRAS[module]
        raise UserError(f"{purpose} needs {package}, which is not installed: "
                        f"pip install \"dvml_tf[{extra}]\"") from None
