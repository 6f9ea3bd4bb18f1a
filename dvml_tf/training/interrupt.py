"""Ctrl-C during training: the run stops after the step it is in, saves it, and ends in one
line saying how to resume (exit status 130, as a shell reports SIGINT); a second Ctrl-C
stops at once, still saving the last finished step."""
import contextlib
import logging
import signal
import threading
from typing import Callable, Iterator


class Interrupted(Exception):
    """The user pressed Ctrl-C; the message says what was saved. Exit status 130."""


@contextlib.contextmanager
def _ctrl_c_handled_by(handler: Callable) -> Iterator[None]:
    """`handler` answers SIGINT inside the block, then the previous one again (signal
    handlers can be set only from the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Holds Ctrl-C back until the block ends (a checkpoint being written is finished, not
    left half-written); raises KeyboardInterrupt after the block if one came."""
    pressed = []
    with _ctrl_c_handled_by(lambda *_: pressed.append(True)):
        yield
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

    def catching(self):
        return _ctrl_c_handled_by(self._handle)
