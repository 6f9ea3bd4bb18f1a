"""Ctrl-C during training: the run stops where it is, saves the step it finished, and ends
in one line saying how to resume (exit status 130, as a shell reports SIGINT)."""
import contextlib
import signal
import threading
from typing import Iterator


class Interrupted(Exception):
    """The user pressed Ctrl-C; the message says what was saved. Exit status 130."""


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Holds Ctrl-C back until the block ends (a checkpoint being written is finished, not
    left half-written); raises KeyboardInterrupt after the block if one came."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt
