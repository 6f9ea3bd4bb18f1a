"""A PyTorch state dict (`torch.save` of a dict of tensors, `.pth`) read into NumPy arrays
without PyTorch, and without running anything the file names.

A `.pth` is a pickle, and unpickling runs whatever callables it names. This reader's
unpickler resolves only the names a state dict of plain tensors uses (an OrderedDict, the
tensor rebuild function, the typed storages); any other name refuses the file before
anything is called. Both of torch.save's formats: the legacy one (torch < 1.6 and
`_use_new_zipfile_serialization=False`: a magic number, three small pickles, the state
dict's pickle, its storage keys, then each storage's bytes) and the zip archive
(`<name>/data.pkl` plus one raw file per storage under `<name>/data/`).
"""
import collections
import io
import pickle
import struct
import zipfile
from typing import Dict, List, Tuple

import numpy as np

from dvml_tf.errors import UserError

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
# torch's typed storages and the NumPy dtype of their elements.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class Storage:
    """One storage a file declares: its dtype and element count; its bytes come later."""

    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype = np.dtype(dtype)
        self.numel = numel
        self.array = None  # filled once the storage's bytes are read


class TensorView:
    """A tensor as the pickle describes it: a strided view of a storage."""

    def __init__(self, storage: Storage, offset: int, size: Tuple[int, ...],
                 stride: Tuple[int, ...]):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def to_numpy(self) -> np.ndarray:
        """A contiguous copy of the view (ValueError when it reaches past its storage)."""
        base = self.storage.array
        if base is None:
            raise ValueError("a tensor's storage has no data in the file")
        size, stride = tuple(self.size), tuple(self.stride)
        if len(size) != len(stride) or any(s < 0 for s in size + stride) or self.offset < 0:
            raise ValueError("a tensor with a negative size, stride or offset")
        last = self.offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else -1
        if last >= base.size:
            raise ValueError("a tensor reaches past the end of its storage")
        itemsize = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=size, strides=[s * itemsize for s in stride],
            writeable=False)
        return np.array(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """torch._utils._rebuild_tensor(_v2)'s place: the view, materialised after loading.
    (_v2's requires_grad, backward hooks and metadata do not change the values.)"""
    if not isinstance(storage, Storage):
        raise pickle.UnpicklingError("a tensor whose storage is not a storage")
    return TensorView(storage, int(storage_offset), tuple(size), tuple(stride))


class _StorageType:
    """torch.FloatStorage and its kind, as a name the persistent ids point at."""

    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


def _allowed_global(module: str, name: str):
    """What the restricted unpickler may resolve; None for anything else."""
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
        return _rebuild_tensor
    if module == "torch" and name in STORAGE_DTYPES:
        return _StorageType(name)
    return None


class _StateDictUnpickler(pickle.Unpickler):
    """Resolves only _allowed_global's names; storages by persistent id."""

    def __init__(self, file, storages: Dict[str, Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        found = _allowed_global(module, name)
        if found is None:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a state dict of "
                                         "tensors never does; nothing in it was run")
        return found

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) >= 5 and saved_id[0] == "storage"
                and isinstance(saved_id[1], _StorageType)):
            raise pickle.UnpicklingError("a persistent id that is not a tensor storage")
        _, storage_type, key, _location, numel = saved_id[:5]
        if str(key) not in self.storages:
            self.storages[str(key)] = Storage(storage_type.dtype, int(numel))
        return self.storages[str(key)]


def _plain_load(file):
    """A pickle that may name nothing at all (the legacy header and key list)."""
    return _StateDictUnpickler(file, {}).load()


def _read_legacy(file) -> Tuple[object, Dict[str, Storage]]:
    if _plain_load(file) != LEGACY_MAGIC_NUMBER:
        raise pickle.UnpicklingError("not a file torch.save wrote (no magic number)")
    if _plain_load(file) != LEGACY_PROTOCOL_VERSION:
        raise pickle.UnpicklingError("an unknown torch.save protocol version")
    system = _plain_load(file)
    if not (isinstance(system, dict) and system.get("little_endian", True)):
        raise pickle.UnpicklingError("a big-endian file")
    storages: Dict[str, Storage] = {}
    root = _StateDictUnpickler(file, storages).load()
    keys: List[str] = _plain_load(file)
    if not isinstance(keys, list):
        raise pickle.UnpicklingError("no list of storage keys after the state dict")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise pickle.UnpicklingError(f"storage {key} is listed but never used")
        header = file.read(8)
        if len(header) != 8:
            raise EOFError("the file ends before storage " + str(key))
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.dtype.itemsize
        data = file.read(nbytes)
        if numel != storage.numel or len(data) != nbytes:
            raise EOFError(f"storage {key} holds {len(data)} of its {nbytes} bytes")
        storage.array = np.frombuffer(data, storage.dtype)
    return root, storages


def _read_zip(path: str) -> Tuple[object, Dict[str, Storage]]:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise pickle.UnpicklingError("a zip archive without one data.pkl")
        prefix = pickles[0][:-len("data.pkl")]
        storages: Dict[str, Storage] = {}
        root = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), storages).load()
        for key, storage in storages.items():
            data = archive.read(f"{prefix}data/{key}")
            if len(data) < storage.numel * storage.dtype.itemsize:
                raise EOFError(f"storage {key} is shorter than its tensors")
            storage.array = np.frombuffer(data, storage.dtype, count=storage.numel)
    return root, storages


def load_state_dict(path: str, what: str = "weights") -> Dict[str, np.ndarray]:
    """{name: array} of the state dict in the `.pth` file `path`; a UserError naming `what`
    and the reason when the file is missing, damaged, or holds anything but tensors."""
    try:
        if zipfile.is_zipfile(path):
            root, _ = _read_zip(path)
        else:
            with open(path, "rb") as file:
                root, _ = _read_legacy(file)
        if not isinstance(root, dict) or not all(
                isinstance(k, str) and isinstance(v, TensorView) for k, v in root.items()):
            raise pickle.UnpicklingError("it holds something other than a dict of tensors")
        return {name: view.to_numpy() for name, view in root.items()}
    except OSError as error:
        raise UserError(f"{what}={path}: cannot read ({error.strerror or error})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, zipfile.BadZipFile, UnicodeDecodeError) as error:
        reason = str(error) or type(error).__name__
        raise UserError(f"{what}={path}: not a PyTorch state dict of tensors, or damaged "
                        f"({reason})") from None
