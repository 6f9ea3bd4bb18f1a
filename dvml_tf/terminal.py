"""What a run shows on stderr: on a terminal, one status line that log lines never break;
elsewhere (a file, a pipe, CI), plain lines.

    install_log_handler()         # log records as 'HH:MM:SS message', through STATUS
    STATUS.show("step 10/100 ...")  # rewritten in place on a TTY
    STATUS.write_line("...")      # a line of its own; the status line is redrawn below it
"""
import logging
import os
import sys
import time
from typing import Optional

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
CLEAR_LINE = "\r\033[K"


class StatusLine:
    """The line a terminal keeps at its bottom (progress), and the lines written above it."""

    def __init__(self, stream=None):
        self.text = ""
        self._stream = stream

    @property
    def stream(self):
        """The stream given, or sys.stderr as it is now."""
        return self._stream or sys.stderr

    def is_tty(self) -> bool:
        return self.stream.isatty()

    def show(self, text: str) -> None:
        """On a TTY, replaces the status line with `text`; elsewhere does nothing."""
        if self.is_tty():
            self.text = text
            self.stream.write(CLEAR_LINE + text)
            self.stream.flush()

    def announce(self, text: str) -> None:
        """A stage that prints nothing while it runs: the status line on a TTY; elsewhere
        (a pipe, a log file) a stamped line, so that a log does not fall silent."""
        if self.is_tty():
            self.show(text)
        else:
            self.write_line(stamped(text))

    def write_line(self, line: str) -> None:
        """Writes `line` on a line of its own, above the status line."""
        redraw = self.is_tty() and self.text
        self.stream.write((CLEAR_LINE if redraw else "") + line + "\n"
                          + (self.text if redraw else ""))
        self.stream.flush()

    def clear(self) -> None:
        """Removes the status line (at the end of training)."""
        if self.is_tty() and self.text:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
        self.text = ""


STATUS = StatusLine()


def stamped(text: str) -> str:
    """`text` after the clock, as the log lines show it: 'HH:MM:SS text'."""
    return time.strftime("%H:%M:%S ") + text


class LineHandler(logging.Handler):
    """Log records as 'HH:MM:SS message' ('HH:MM:SS warning: message' from WARNING on),
    through STATUS. INFO and below only from dvml_tf's own modules: TensorFlow's and
    absl's chatter (checkpoint sharding, op registration) stays out."""

    def emit(self, record: logging.LogRecord) -> None:
        ours = os.path.abspath(record.pathname).startswith(PACKAGE_DIR)
        if record.levelno < logging.WARNING and not ours:
            return
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        try:
            STATUS.write_line(f"{clock} {level}{record.getMessage()}")
        except Exception:  # a broken pipe must not end the run
            self.handleError(record)


def install_log_handler(level: int = logging.INFO) -> None:
    """Makes LineHandler the root logger's only handler (absl's goes: it prefixes every line
    with a level letter, a thread id and a file name)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LineHandler())
    root.setLevel(level)
    logging.getLogger("absl").setLevel(level)


class CountProgress:
    """Progress of a long count ('writing the images of sop/train: 1,200 / 59,551'): the
    status line on a terminal (at most every `redraw_seconds`), elsewhere a line every
    `line_seconds`; a closing line with the count and the time taken."""

    def __init__(self, what: str, total: Optional[int] = None, redraw_seconds: float = 0.25,
                 line_seconds: float = 30.0):
        self.what, self.total, self.count = what, total, 0
        self.redraw_seconds, self.line_seconds = redraw_seconds, line_seconds
        # When it last asked whether stderr is a terminal; when it last wrote a line.
        self.started = self.checked = self.drawn = time.monotonic()

    def text(self) -> str:
        counted = f"{self.count:,}" + (f" / {self.total:,}" if self.total else "")
        return f"{self.what}: {counted}"

    def advance(self, count: int = 1) -> None:
        """Counts; asks whether stderr is a terminal only once a redraw is due (a count of
        hundreds of thousands of files asked it each time, 35 s at SOP's size)."""
        self.count += count
        now = time.monotonic()
        if now - self.checked < self.redraw_seconds:
            return
        self.checked = now
        if STATUS.is_tty():
            STATUS.show(self.text())
        elif now - self.drawn >= self.line_seconds:
            STATUS.write_line(stamped(self.text()))
            self.drawn = now

    def done(self, summary: bool = True) -> None:
        """Clears the status line; `summary`: and writes the count and the time taken."""
        STATUS.clear()
        if summary:
            STATUS.write_line(stamped(f"{self.text()} ({time.monotonic() - self.started:.0f} s)"))
