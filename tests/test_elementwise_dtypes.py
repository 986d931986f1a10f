"""Elementwise dtype coverage the shared kit cannot run: 64-bit testcases (x64 mode only), a rejected dtype."""

import jax
import ml_dtypes
import pytest

from jax2onnx import to_onnx
from jax2onnx.errors import UnsupportedDtypeError
from jax2onnx.registry import get_registry
from jax2onnx.testing.kit import DEFAULT_OPSETS, Case, run_case
from jax2onnx_lax.elementwise import X64_ONLY


def _x64_cases():
    return [pytest.param(Case(row, tc, opset, True), id=f"{tc.name}-op{opset}")
            for row in get_registry().all_lowerings() if row.module == "jax2onnx_lax.elementwise"
            for tc in row.testcases if tc.skip == X64_ONLY for opset in DEFAULT_OPSETS]


@pytest.mark.parametrize("case", _x64_cases())
def test_64bit(case):
    run_case(case)


def test_64bit_cases_exist():
    assert len(_x64_cases()) >= 20


def test_float8_without_kernel_is_rejected():
    # ORT has no float8 Exp kernel and float8 is not widened: a clear error, not a wrong result.
    with pytest.raises(UnsupportedDtypeError, match=r"exp .*float8_e4m3fn is not supported \(supported: float32"):
        to_onnx(lambda x: jax.lax.exp(x), [("B", 3)], input_dtypes=[ml_dtypes.float8_e4m3fn])
