"""The ``jax2onnx`` console script, run in a subprocess: exit codes, output, errors on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPT = Path(sys.executable).parent / ("jax2onnx.exe" if os.name == "nt" else "jax2onnx")


def run(*args: str, cwd: Path = FIXTURES) -> subprocess.CompletedProcess:
    assert SCRIPT.exists(), f"the jax2onnx console script is not installed next to {sys.executable}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_export_a_factory_with_check(tmp_path):
    out = tmp_path / "model.onnx"
    r = run("export", "cli_models:make_model", "--input", "B,30", "-o", str(out), "--check")
    assert r.returncode == 0, r.stderr
    assert "check: OK" in r.stdout and "output 0: float32[2, 3], max abs error" in r.stdout
    model = onnx.load(out)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "B"
    for batch in (2, 5):  # the symbolic batch runs at two sizes
        (y,) = ort.InferenceSession(str(out)).run(None, {"in_0": np.ones((batch, 30), np.float32)})
        assert y.shape == (batch, 3)


def test_export_a_function_with_param_and_opset(tmp_path):
    out = tmp_path / "f.onnx"
    r = run("export", "cli_models:with_flag", "-i", "4", "--param", "deterministic=false", "--opset", "18",
            "-o", str(out), "--check")
    assert r.returncode == 0, r.stderr
    model = onnx.load(out)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    assert [i.name for i in model.graph.input][-1] == "deterministic"


def test_export_with_integer_dtype(tmp_path):
    r = run("export", "cli_models:scaled_tanh", "-i", "3,B", "--dtype", "float64", "--double",
            "-o", str(tmp_path / "d.onnx"), "--check")
    assert r.returncode == 0, r.stderr
    assert onnx.load(tmp_path / "d.onnx").graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("args, words", [
    (["export", "cli_models", "-o", "x.onnx"], ["MODULE:OBJECT"]),
    (["export", "no_such_module:f", "-o", "x.onnx"], ["cannot import", "no_such_module"]),
    (["export", "cli_models:missing", "-o", "x.onnx"], ["no attribute", "missing"]),
    (["export", "cli_models:NOT_CALLABLE", "-o", "x.onnx"], ["int", "not a callable"]),
    (["export", "cli_models:scaled_tanh", "-i", "B,x-1", "-o", "x.onnx"], ["x-1"]),
    (["export", "cli_models:scaled_tanh", "-i", "3", "--dtype", "floaty", "-o", "x.onnx"], ["floaty"]),
    (["export", "cli_models:scaled_tanh", "-i", "3"], ["--output"]),
    (["inspect", "no_such_file.onnx"], ["no such model file"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_usage_errors_exit_2_with_one_line_first(args, words):
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    first = r.stderr.strip().splitlines()[-1 if args == ["frobnicate"] or "--output" in words else 0]
    for word in words:
        assert word in r.stderr
    assert first.startswith(("jax2onnx: error:", "jax2onnx export: error:", "usage:", "jax2onnx: error"))
    assert not (FIXTURES / "x.onnx").exists()


def test_failed_export_exits_1_and_names_the_primitive(tmp_path):
    out = tmp_path / "u.onnx"
    r = run("export", "cli_models:unsupported", "-i", "3", "-o", str(out))
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith("jax2onnx: error: UnsupportedPrimitiveError") and "pure_callback" in first
    assert not out.exists()


def test_inspect_and_check(tmp_path):
    out = tmp_path / "model.onnx"
    assert run("export", "cli_models:make_model", "-i", "B,30", "-o", str(out)).returncode == 0
    r = run("inspect", str(out))
    assert r.returncode == 0, r.stderr
    assert "input     in_0: float32[B, 30]" in r.stdout
    assert "output    out_0: float32[B, 3]" in r.stdout
    assert "Gemm" in r.stdout and "ai.onnx 23" in r.stdout
    r = run("check", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["checker (full): OK", "strict shape inference: OK", "ONNX Runtime load: OK"]


def test_check_rejects_a_broken_model(tmp_path):
    model = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"]), onnx.helper.make_node("Relu", ["nowhere"], ["z"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2])]))
    path = tmp_path / "broken.onnx"
    onnx.save(model, path)
    r = run("check", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith("jax2onnx: error: checker (full) failed") and "nowhere" in r.stderr


def test_plugins_lists_our_packages():
    r = run("plugins")
    assert r.returncode == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines()[1:]]
    assert {"jax2onnx-plugins-lax", "jax2onnx-plugins-nnx", "jax2onnx-examples"} <= set(names)
    lax = next(line for line in r.stdout.splitlines() if line.startswith("jax2onnx-plugins-lax"))
    assert int(lax.split()[2]) > 100  # rules
