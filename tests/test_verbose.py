"""Verbose exports print each phase's time; silent by default; a bar only on a terminal."""

from __future__ import annotations

import io

import jax.numpy as jnp

from jax2onnx import save_onnx, to_onnx
from jax2onnx.progress import BAR_FROM, Report


def long_program(x):
    for i in range(BAR_FROM + 10):
        x = jnp.sin(x) + i
    return x


def test_default_is_silent(capsys):
    to_onnx(lambda x: x + 1, [("B", 3)])
    assert capsys.readouterr().err == ""


def test_verbose_prints_each_phase(capsys, tmp_path):
    save_onnx(lambda x: jnp.tanh(x) + 1, [("B", 3)], tmp_path / "m.onnx", verbose=True)
    err = capsys.readouterr().err
    phases = [line.split()[1] for line in err.splitlines() if line.startswith("jax2onnx: ")]
    assert phases == ["trace", "lower", "passes", "save"]
    assert all(line.endswith(" s") for line in err.splitlines())


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_only_on_a_terminal_and_for_large_programs():
    for stream, drawn in ((io.StringIO(), False), (_Terminal(), True)):
        report = Report(True, stream)
        with report.equations(BAR_FROM) as advance:
            for _ in range(BAR_FROM):
                advance()
        assert ("lowering" in stream.getvalue()) is drawn
    small = _Terminal()
    with Report(True, small).equations(BAR_FROM - 1) as advance:
        advance()
    assert small.getvalue() == ""


def test_verbose_export_of_a_large_program_matches_the_silent_one():
    quiet = to_onnx(long_program, [(4,)])
    loud = to_onnx(long_program, [(4,)], verbose=True)
    assert quiet.SerializeToString() == loud.SerializeToString()
