"""Files in torch.save's two formats, written without PyTorch, for the state-dict reader's
tests: the pickles name torch's own globals (torch._utils._rebuild_tensor_v2,
torch.FloatStorage), which stand-in modules provide while the file is written."""
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from typing import Dict

import numpy as np

DTYPE_STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


@contextlib.contextmanager
def _stand_in_torch():
    """Modules named torch and torch._utils whose globals pickle can name."""
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for storage in DTYPE_STORAGES.values():
        setattr(torch, storage, type(storage, (), {"__module__": "torch"}))
    torch._utils = utils
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch, utils
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Tensor:
    def __init__(self, key, array):
        self.key, self.array = key, array


def _state_dict_pickle(tensors: Dict[str, np.ndarray], torch, utils) -> bytes:
    """The pickle of an OrderedDict of tensors, storage i holding tensor i."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, tuple) and obj and obj[0] == "storage-of":
                array, key = obj[1], obj[2]
                return ("storage", getattr(torch, DTYPE_STORAGES[array.dtype]), key, "cpu",
                        array.size)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                a = obj.array
                stride = tuple(s // a.itemsize for s in a.strides)
                return (utils._rebuild_tensor_v2,
                        (("storage-of", a, obj.key), 0, a.shape, stride, False, OrderedDict()))
            return NotImplemented

    buffer = io.BytesIO()
    value = OrderedDict((name, _Tensor(str(i), np.ascontiguousarray(a)))
                        for i, (name, a) in enumerate(tensors.items()))
    Pickler(buffer, protocol=2).dump(value)
    return buffer.getvalue()


def write_legacy(path, tensors: Dict[str, np.ndarray], main_pickle: bytes = b"") -> None:
    """torch.save's legacy format; `main_pickle` replaces the state dict's pickle."""
    with _stand_in_torch() as (torch, utils):
        body = main_pickle or _state_dict_pickle(tensors, torch, utils)
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001,
                       {"protocol_version": 1001, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        f.write(body)
        pickle.dump([str(i) for i in range(len(tensors))], f, protocol=2)
        for array in tensors.values():
            f.write(struct.pack("<q", array.size))
            f.write(np.ascontiguousarray(array).tobytes())


def write_zip(path, tensors: Dict[str, np.ndarray]) -> None:
    """torch.save's zip format (torch >= 1.6)."""
    with _stand_in_torch() as (torch, utils):
        body = _state_dict_pickle(tensors, torch, utils)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", body)
        for i, array in enumerate(tensors.values()):
            archive.writestr(f"archive/data/{i}", np.ascontiguousarray(array).tobytes())
