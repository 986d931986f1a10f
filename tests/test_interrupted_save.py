"""A save interrupted by a signal leaves the previous model and its data intact, and no temporary files."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from jax2onnx import save_onnx

CHILD = """
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
