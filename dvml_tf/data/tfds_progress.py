"""TFDS's preparation progress (downloads, extraction, examples generated) in the package's
own progress line, with counts: while `tfds_progress_in_our_line()` is active, the tqdm
bars TFDS opens are drawn by CountProgress (terminal.py), in place on a terminal and as a
line every 30 s elsewhere (tqdm's bars write a line per redraw into a pipe or a log)."""
import contextlib
import threading
import types
from typing import Iterator, Optional

from dvml_tf.terminal import STATUS, CountProgress


class TfdsProgressBar:
    """The part of tqdm's interface that TFDS's preparation uses, drawn by CountProgress."""

    _lock = threading.RLock()

    def __init__(self, iterable=None, desc: Optional[str] = None, total: Optional[int] = None,
                 **_):
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.n, self._closed = iterable, 0, False
        self.progress = CountProgress(f"TFDS: {(desc or 'preparing').rstrip('.: ')}", total)

    @property
    def total(self) -> Optional[int]:
        return self.progress.total

    @total.setter
    def total(self, value: Optional[int]) -> None:
        self.progress.total = value

    def __iter__(self):  # closes itself at the end, as tqdm does
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        self.progress.advance(n)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.progress.done(summary=self.n > 0)

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __getattr__(self, name):  # refresh, clear, set_postfix, ...: nothing to do
        return lambda *args, **kwargs: None

    @classmethod
    def get_lock(cls):
        return cls._lock

    @staticmethod
    def write(text: str, end: str = "\n", **_) -> None:
        STATUS.write_line(text.rstrip("\n"))


@contextlib.contextmanager
def tfds_progress_in_our_line() -> Iterator[None]:
    """TFDS's progress bars drawn as the package's progress line; TFDS's settings restored
    afterwards."""
    from tensorflow_datasets.core.utils import tqdm_utils

    before = tqdm_utils.tqdm_lib, getattr(tqdm_utils, "_active", True)
    tqdm_utils.tqdm_lib = types.SimpleNamespace(tqdm=TfdsProgressBar)
    tqdm_utils._active = True
    try:
        yield
    finally:
        tqdm_utils.tqdm_lib, tqdm_utils._active = before
