"""A full disk ends a command in one line, and leaves no half-written files behind."""
import contextlib
import errno
import glob
import os
import shutil

from dvml_tf.errors import UserError

OUT_OF_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# How TensorFlow's C++ file writers report the same errnos (as tf.errors.OpError).
OUT_OF_SPACE_MESSAGES = ("No space left on device", "Disk quota exceeded", "File too large")


def is_out_of_space(error):
    if isinstance(error, OSError) and error.errno in OUT_OF_SPACE_ERRNOS:
        return True
    return any(message in str(error) for message in OUT_OF_SPACE_MESSAGES)


def remove_debris(patterns):
    """Deletes the files and folders matching `patterns`: what a failed write left."""
    for pattern in patterns:
        for path in glob.glob(pattern):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)


@contextlib.contextmanager
def out_of_space_is_user_error(where, debris=()):
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
