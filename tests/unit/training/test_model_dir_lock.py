"""The lock of a run folder is a regular file dvml_tf makes: a link or a FIFO there is
refused in one line, and the file a link names is never written."""
import os

import pytest

from dvml_tf.errors import UserError
from dvml_tf.training.model_dir_lock import holding_model_dir


def test_a_linked_lock_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("IMPORTANT USER DATA")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(victim)
    with pytest.raises(UserError, match=r"its \.lock is a link, not the lock dvml_tf makes"):
        with holding_model_dir(str(tmp_path / "run")):
            pass
    assert victim.read_text() == "IMPORTANT USER DATA"


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    os.mkfifo(tmp_path / "run" / ".lock")
    with pytest.raises(UserError, match=r"its \.lock is not a regular file"):
        with holding_model_dir(str(tmp_path / "run")):
            pass


def test_the_lock_holds_this_process_id(tmp_path):
    with holding_model_dir(str(tmp_path / "run")):
        assert (tmp_path / "run" / ".lock").read_text() == str(os.getpid())
