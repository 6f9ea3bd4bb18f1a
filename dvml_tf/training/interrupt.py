"""Ctrl-C during training: the run stops after the step it is in, saves it, and ends in one
line saying how to resume (exit status 130, as a shell reports SIGINT); a second Ctrl-C
stops at once, still saving the last finished step."""
import contextlib
import logging
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


class StopAtCtrlC:
    """While `catching()`, the first Ctrl-C asks `model` to stop after the step it is in
    (Keras checks `stop_training` after each step; the checkpoint callbacks then save it),
    a second one raises KeyboardInterrupt at once. `pressed` says whether it came."""

    def __init__(self, model):
        self.model = model
        self.pressed = False

    def _handle(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        self.model.stop_training = True
        logging.warning("stopping after this step (Ctrl-C again to stop at once)")

    @contextlib.contextmanager
    def catching(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
