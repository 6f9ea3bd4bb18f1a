"""Where an evaluation's time and memory go: the wall time of each named stage and the
process's peak memory (ru_maxrss) at its end, recorded while `recording()` is open and
written as one line (evaluate_model logs it; benchmarks/sop_scale.py reads it)."""
import contextlib
import contextvars
import resource
import sys
import time
from typing import Dict, Iterator, Optional, Tuple

# stage name -> (seconds, peak memory in GiB at its end), of the recording open here.
_RECORDING: contextvars.ContextVar[Optional[Dict[str, Tuple[float, float]]]] = (
    contextvars.ContextVar("evaluation_stages", default=None))


@contextlib.contextmanager
def recording() -> Iterator[Dict[str, Tuple[float, float]]]:
    """Records the stages run inside it into the dict it yields, in their order."""
    stages: Dict[str, Tuple[float, float]] = {}
    token = _RECORDING.set(stages)
    try:
        yield stages
    finally:
        _RECORDING.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Times the block as stage `name` of the open recording (nothing without one); a
    stage run twice adds up."""
    stages = _RECORDING.get()
    started = time.monotonic()
    yield
    if stages is not None:
        before = stages.get(name, (0.0, 0.0))[0]
        stages[name] = (before + time.monotonic() - started, peak_memory_gib())


def peak_memory_gib() -> float:
    """The process's peak resident memory so far, in GiB (ru_maxrss: KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2 ** 30 if sys.platform == "darwin" else 2 ** 20)


def summary(stages: Dict[str, Tuple[float, float]]) -> str:
    """'embed 41.2 s (1.31 GiB), nearest neighbours 30.0 s (1.80 GiB), ...'."""
    return ", ".join(f"{name} {seconds:.1f} s ({peak:.2f} GiB)"
                     for name, (seconds, peak) in stages.items())
