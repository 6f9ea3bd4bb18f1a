"""Where TFDS's builders download the paper's datasets from, and a check, within seconds,
that those hosts answer before TFDS starts (offline, TFDS retries for minutes)."""
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Tuple

# The URLs TFDS's builders fetch (tensorflow-datasets 4.9; a test compares them with the
# builders' own requests).
UPSTREAM_URLS = {
    "cub": ("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
            "https://data.caltech.edu/records/w9d68-gec53/files/segmentations.tgz?download=1"),
    "cars": ("http://ai.stanford.edu/~jkrause/car196/cars_train.tgz",
             "http://ai.stanford.edu/~jkrause/car196/cars_test.tgz",
             "https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",
             "http://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat"),
    "sop": ("ftp://cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip",),
}
CHECK_SECONDS = 25  # all URLs of a dataset together
GONE = (404, 410)


def _unreachable(url: str, timeout: float) -> Optional[str]:
    """Why `url` cannot be downloaded (no answer, no such host, HTTP 404), or None."""
    parts = urllib.parse.urlsplit(url)
    try:
        if parts.scheme == "ftp":
            socket.create_connection((parts.hostname, parts.port or 21), timeout).close()
            return None
        request = urllib.request.Request(url, method="HEAD")
        urllib.request.urlopen(request, timeout=timeout).close()
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}" if error.code in GONE else None
    except urllib.error.URLError as error:
        return str(getattr(error.reason, "strerror", None) or error.reason)
    except TimeoutError:
        return f"no answer within {timeout:.0f} s"
    except OSError as error:
        return error.strerror or str(error)
    return None


def first_unreachable(dataset: str, seconds: float = CHECK_SECONDS) -> Optional[Tuple[str, str]]:
    """(url, why) of the first of `dataset`'s URLs that cannot be downloaded, or None."""
    deadline = time.monotonic() + seconds
    for url in UPSTREAM_URLS[dataset]:
        left = deadline - time.monotonic()
        if left <= 0:
            return url, f"no answer within {seconds:.0f} s"
        reason = _unreachable(url, min(10.0, left))
        if reason:
            return url, reason
    return None
