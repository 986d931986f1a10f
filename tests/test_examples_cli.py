"""The examples' command line (list, export + check against JAX) and their metadata."""

import os

import onnx
import pytest

from jax2onnx_examples.__main__ import main
from jax2onnx_examples._zoo import load_all


def test_list_names_every_example_with_its_size(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, ex in load_all().items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert f"{ex.param_count('small'):,}" in line and ex.description in line


def test_export_writes_the_model_and_checks_it_against_jax(tmp_path, capsys):
    assert main(["export", "rl_gaussian_actor", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "rl_gaussian_actor.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    assert "6,092 parameters" in out and "check against JAX" in out and ": OK:" in out
    # The full config is a different file with the full config's weights (less the unused log-std head).
    assert main(["export", "rl_gaussian_actor", "-o", str(tmp_path), "--size", "full"]) == 0
    full = tmp_path / "rl_gaussian_actor_full.onnx"
    assert os.path.getsize(full) > 4 * 160_000 > os.path.getsize(path)


def test_export_of_an_unknown_example_says_how_to_list_them(tmp_path, capsys):
    assert main(["export", "no_such_model", "-o", str(tmp_path)]) == 2
    assert "python -m jax2onnx_examples list" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(load_all()))
def test_metadata(name):
    ex = load_all()[name]
    assert ex.description and ex.components and ex.since
    assert {"small", "full"} <= set(ex.configs)
    assert 0 < ex.param_count("small")
    specs = ex.inputs(ex.configs["small"])
    assert any(isinstance(d, str) for spec in specs for d in spec), f"{name}: no symbolic dim in {specs}"
