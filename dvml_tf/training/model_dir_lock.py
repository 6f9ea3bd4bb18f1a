"""One run at a time per --model_dir: an exclusive lock held for the whole command."""
import contextlib
import fcntl
import os
import stat
from typing import Iterator

from dvml_tf.errors import UserError, flag

LOCK_FILE = ".lock"


@contextlib.contextmanager
def holding_model_dir(model_dir: str) -> Iterator[None]:
    """Holds the lock of `model_dir` (created if missing), or raises UserError naming the
    process that holds it. The kernel drops the lock when the process ends, however. A
    folder it created that holds nothing but the lock afterwards (the run failed before
    writing) is removed."""
    created = not os.path.exists(model_dir)
    lock = os.path.join(model_dir, LOCK_FILE)
    try:
        os.makedirs(model_dir, exist_ok=True)
        # Never through a link: writing the pid there would rewrite the file it names.
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if os.path.islink(lock):
            raise UserError(f"{flag('model_dir')}={model_dir}: its {LOCK_FILE} is a link, not the "
                            "lock dvml_tf makes; remove it if the folder is yours") from None
        raise UserError(f"{flag('model_dir')}={model_dir}: cannot create "
                        f"({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UserError(f"{flag('model_dir')}={model_dir}: its {LOCK_FILE} is not a regular file; "
                        "remove it if the folder is yours")
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise UserError(f"{flag('model_dir')}={model_dir}: another run (pid {holder}) is "
                            "using it; wait for it to end or choose another "
                            f"{flag('model_dir')}") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(descriptor)
        if created and os.listdir(model_dir) == [LOCK_FILE]:
            os.remove(os.path.join(model_dir, LOCK_FILE))
            os.rmdir(model_dir)
