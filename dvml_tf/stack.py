"""The TensorFlow stacks dvml_tf runs on, and a one-line error for any other.

Default: TensorFlow 2.16-2.22 with Keras 3 (`import keras`), Python 3.11-3.13, tested on
TensorFlow 2.21. Reference: TensorFlow 2.15.1 with TF-Addons 0.23.0 on Python 3.11, where
only `dvml_tf.losses` runs (its loss classes are layers of TensorFlow 2.15's own Keras 2
there): the stack that proves those losses equal to TF-Addons'.
"""
import os
import sys
import tempfile
from typing import Tuple

from dvml_tf.errors import UserError

OLDEST, NEWEST = (2, 16), (2, 22)
REFERENCE = (2, 15)
DEFAULT_INSTALL = 'pip install "tensorflow>=2.16,<2.23" "keras>=3.5"'
REFERENCE_INSTALL = ("pip install -r requirements-reference.txt (TensorFlow 2.15.1, "
                     "TF-Addons 0.23.0, Python 3.11)")


# What TensorFlow's C++ core prints while it loads, before its logging honours
# TF_CPP_MIN_LOG_LEVEL (TensorFlow >= 2.16): notices, not errors of the user's.
STARTUP_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning",
)


def import_tensorflow_quietly() -> None:
    """For the commands only: imports TensorFlow with the process's standard error (file
    descriptor 2) held in a temporary file, then writes back every line but TensorFlow's
    start-up notices, so that they never stand ahead of a one-line error."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines
                                     if not any(notice in line for notice in STARTUP_NOTICES)))


def tensorflow_version() -> Tuple[int, int]:
    import tensorflow as tf

    major, minor = tf.__version__.split(".")[:2]
    return int(major), int(minor)


def keras_major_version() -> int:
    """The major version of the installed `keras` package (0 when none imports)."""
    try:
        import keras
    except ImportError:
        return 0
    return int(keras.__version__.split(".")[0])


def check_stack() -> None:
    """Raises UserError unless TensorFlow and Keras are a pair dvml_tf trains on."""
    import tensorflow as tf

    version = tensorflow_version()
    if version == REFERENCE:
        raise UserError(f"TensorFlow {tf.__version__} is the reference stack: only "
                        "dvml_tf.losses runs on it (the TF-Addons parity); training needs "
                        f"Keras 3: {DEFAULT_INSTALL}")
    if not OLDEST <= version <= NEWEST:
        raise UserError(f"TensorFlow {tf.__version__} is not supported: dvml_tf runs on "
                        f"TensorFlow {OLDEST[0]}.{OLDEST[1]}-{NEWEST[0]}.{NEWEST[1]} with "
                        f"Keras 3; {DEFAULT_INSTALL}")
    if keras_major_version() != 3:
        raise UserError(f"TensorFlow {tf.__version__} needs Keras 3 for dvml_tf: "
                        f'pip install "keras>=3.5"')
