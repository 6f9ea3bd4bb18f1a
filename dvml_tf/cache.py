"""Where dvml_tf keeps what it makes once and reuses: generated datasets, converted weights."""
import os


def cache_dir() -> str:
    """$XDG_CACHE_HOME/dvml_tf, i.e. ~/.cache/dvml_tf unless XDG_CACHE_HOME says otherwise."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "dvml_tf")
