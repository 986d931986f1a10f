"""Elementwise dtypes the shared kit does not cover: a dtype with no kernel is rejected clearly."""

import jax
import ml_dtypes
import pytest

from jax2onnx import to_onnx
from jax2onnx.errors import UnsupportedDtypeError


def test_float8_without_kernel_is_rejected():
    # ORT has no float8 Exp kernel and float8 is not widened: a clear error, not a wrong result.
    with pytest.raises(UnsupportedDtypeError, match=r"exp .*float8_e4m3fn is not supported \(supported: float32"):
        to_onnx(lambda x: jax.lax.exp(x), [("B", 3)], input_dtypes=[ml_dtypes.float8_e4m3fn])
