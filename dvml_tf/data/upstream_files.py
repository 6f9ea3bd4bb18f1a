"""The files a dataset's authors publish, read as they come: a .tgz/.tar/.zip archive, or
the folder it extracts to. Member names are the archive's ('cars_train/00001.jpg'); a
folder's files are named the same way, relative to the folder that holds it."""
import os
import tarfile
import zipfile
import zlib
from typing import Callable, Iterator, Optional, Tuple

from dvml_tf.errors import UserError, first_line

ARCHIVE_ENDINGS = (".tgz", ".tar.gz", ".tar", ".zip")


def find_source(folder: str, archive: str, extracted: str) -> Optional[str]:
    """The path of `archive` in `folder`, else of the folder `extracted` it unpacks to."""
    for name in (archive, extracted):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    return None


def _tar_members(path: str) -> Iterator[Tuple[str, Callable[[], bytes]]]:
    with tarfile.open(path, "r:*") as archive:
        for member in archive:  # one pass: gzip cannot seek back cheaply
            if member.isfile():
                yield member.name, archive.extractfile(member).read


def _zip_members(path: str) -> Iterator[Tuple[str, Callable[[], bytes]]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, (lambda name=info.filename: archive.read(name))


def _folder_members(path: str) -> Iterator[Tuple[str, Callable[[], bytes]]]:
    parent = os.path.dirname(os.path.abspath(path))
    for root, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            relative = os.path.relpath(full, parent).replace(os.sep, "/")

            def read(full=full):
                with open(full, "rb") as f:
                    return f.read()

            yield relative, read


def _single_file(path: str) -> Iterator[Tuple[str, Callable[[], bytes]]]:
    def read():
        with open(path, "rb") as f:
            return f.read()

    yield os.path.basename(path), read


def members(path: str) -> Iterator[Tuple[str, Callable[[], bytes]]]:
    """(member name, read) of every file in the archive or folder at `path` (a file of
    another kind is its own one member); `read` returns its bytes and must be called
    before the next member is taken. A damaged archive is one line naming it."""
    if os.path.isdir(path):
        reader = _folder_members
    elif path.endswith(".zip"):
        reader = _zip_members
    elif path.endswith(ARCHIVE_ENDINGS):
        reader = _tar_members
    else:
        reader = _single_file
    try:
        for member, read in reader(path):
            yield member, _guarded(path, member, read)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise UserError(f"{path}: cannot be read as the upstream archive ({first_line(error)})"
                        ) from None


def _guarded(path: str, member: str, read: Callable[[], bytes]) -> Callable[[], bytes]:
    """`read`, with a damaged member (cut short, a bad checksum) as one line naming it."""
    def read_or_fail() -> bytes:
        try:
            return read()
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
            raise UserError(f"{path}: cannot read its member {member} ({first_line(error)}); "
                            "the archive is damaged or cut short") from None

    return read_or_fail


def read_member(path: str, ending: str) -> bytes:
    """The bytes of the first member of `path` whose name ends with `ending`."""
    for name, read in members(path):
        if name.endswith(ending):
            return read()
    raise UserError(f"{path}: holds no {ending.lstrip('/')}")
