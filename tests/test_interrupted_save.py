"""A save interrupted by a signal leaves the previous model and its data intact, and no temporary files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

import jax2onnx.api
from jax2onnx import Jax2OnnxError, save_onnx

# Each child first takes SIGINT and SIGTERM as a program started from a shell does: a process
# inherits ignored and blocked signals from its parent, and a test runner's worker may hold them so.
RESET_SIGNALS = """
import signal
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
"""

CHILD = RESET_SIGNALS + """
import pathlib, sys
import numpy as np
from jax2onnx import save_onnx
path = pathlib.Path(sys.argv[1])
ones = np.ones((2048, 4096), np.float32)  # 32 MiB: a save that takes a while
save_onnx(lambda x: x @ ones, [("B", 2048)], path, external_data=True)
(path.parent / "ready").touch()
for k in range(2, 1000):
    weights = np.full((2048, 4096), k, np.float32)
    save_onnx(lambda x: x @ weights, [("B", 2048)], path, external_data=True)
"""


def _temporaries(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith(".jax2onnx-"))


def _wait(condition, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.005)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_killed_save_keeps_the_previous_files(tmp_path, signum):
    path = tmp_path / "model.onnx"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)])
    try:
        _wait(lambda: (tmp_path / "ready").exists())
        _wait(lambda: _temporaries(tmp_path))  # the second save is writing
        child.send_signal(signum)
        child.wait(timeout=300)
    finally:
        child.kill()
    assert child.returncode != 0
    model = onnx.load(str(path))  # loads its external data, which must match its offsets
    onnx.checker.check_model(model, full_check=True)
    weights = onnx.numpy_helper.to_array(model.graph.initializer[0])
    assert weights.shape == (2048, 4096) and len(np.unique(weights)) == 1
    if signum != signal.SIGKILL:
        assert _temporaries(tmp_path) == []
    # Whatever a killed process left is removed by the next save in that directory.
    save_onnx(lambda x: x + 1, [(3,)], tmp_path / "other.onnx")
    assert _temporaries(tmp_path) == []


# Each save's model file (its graph's name) and data file (the weights' value) both carry its number k,
# so a model paired with another save's data shows. Between the two renames that replace the data
# file and then the model, the child announces itself and lingers.
PAIR_CHILD = RESET_SIGNALS + """
import os, pathlib, sys, time
import numpy as np
from jax2onnx import save_onnx
path = pathlib.Path(sys.argv[1])
replace = os.replace
def slow_replace(source, target):
    replace(source, target)
    if str(target) == f"{path}.data" and (path.parent / "ready").exists():
        (path.parent / "between").touch()
        time.sleep(3)
os.replace = slow_replace
def save(k):
    weights = np.full((64, 64), k, np.float32)
    save_onnx(lambda x: x @ weights, [("B", 64)], path, external_data=True, model_name=f"save{k}")
save(1)
(path.parent / "ready").touch()
save(2)
"""


def _saved_pair(path):
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    weights = np.unique(onnx.numpy_helper.to_array(model.graph.initializer[0]))
    assert len(weights) == 1 and model.graph.name == f"save{int(weights[0])}", "the model and its data differ"
    return int(weights[0])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_save_killed_between_model_and_data_leaves_them_paired(tmp_path, signum):
    path = tmp_path / "model.onnx"
    child = subprocess.Popen([sys.executable, "-c", PAIR_CHILD, str(path)])
    try:
        _wait(lambda: (tmp_path / "between").exists())
        child.send_signal(signum)
        child.wait(timeout=300)
    finally:
        child.kill()
    assert child.returncode != 0
    if signum == signal.SIGKILL:
        # Killed outright mid-commit: the journal it left lets the next save in the directory finish it.
        assert any(n.endswith(".commit") for n in _temporaries(tmp_path))
        save_onnx(lambda x: x + 1, [(3,)], tmp_path / "other.onnx")
    # SIGINT/SIGTERM wait for the second rename, so the save completes before the process stops.
    assert _saved_pair(path) == 2
    assert _temporaries(tmp_path) == []


def _save(path, k, **options):
    weights = np.full((8, 8), k, np.float32)
    save_onnx(lambda x: x @ weights, [("B", 8)], path, external_data=True, model_name=f"save{k}", **options)


def test_failure_writing_the_second_file_keeps_the_old_pair(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    _save(path, 1)

    def disk_full(*args, **kwargs):  # the model file is written after its data (which ir.save wrote)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jax2onnx.api.onnx, "save", disk_full)
    with pytest.raises(Jax2OnnxError, match="could not write.*No space left"):
        _save(path, 2)
    assert _saved_pair(path) == 1 and _temporaries(tmp_path) == []


def test_failure_replacing_the_model_restores_the_old_data(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    _save(path, 1)
    replace = os.replace

    def refuse_model(source, target):
        if os.fspath(target) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(target))
        replace(source, target)

    monkeypatch.setattr(jax2onnx.api.os, "replace", refuse_model)
    with pytest.raises(Jax2OnnxError, match="could not write.*Permission denied"):
        _save(path, 2)
    monkeypatch.setattr(jax2onnx.api.os, "replace", replace)
    assert _saved_pair(path) == 1 and _temporaries(tmp_path) == []
    _save(path, 3)  # and the next save goes through
    assert _saved_pair(path) == 3 and _temporaries(tmp_path) == []
