"""cli.embed writes its files all or none: a full disk half way leaves nothing that would
make the rerun refuse the folder."""
import errno
import os

import numpy as np
import pytest

from dvml_tf.cli import embed
from dvml_tf.errors import UserError


def test_a_full_disk_while_writing_leaves_no_file_and_the_rerun_writes_all(tmp_path,
                                                                          monkeypatch):
    real_save = np.save
    calls = []

    def save_then_fill_the_disk(path, value):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(path, value)

    monkeypatch.setattr(embed.np, "save", save_then_fill_the_disk)
    out = str(tmp_path / "out")
    embeddings, labels = np.eye(3, dtype=np.float32), np.arange(3)
    with pytest.raises(UserError, match=r"--out=.*: cannot write \(No space left on device\)"):
        embed._write_outputs(out, embeddings, labels, ["a", "b", "c"])
    assert os.listdir(out) == []
    monkeypatch.setattr(embed.np, "save", real_save)
    embed._write_outputs(out, embeddings, labels, ["a", "b", "c"])
    assert sorted(os.listdir(out)) == sorted([embed.EMBEDDINGS, embed.LABELS, embed.CLASSES])
    np.testing.assert_array_equal(np.load(os.path.join(out, embed.LABELS)), labels)
    assert open(os.path.join(out, embed.CLASSES)).read() == "a\nb\nc\n"
