"""Every testcase of every installed plugin: export, onnx.checker, ONNX Runtime, compare with JAX."""

import pytest

from jax2onnx.testing import case_params, run_case


@pytest.mark.parametrize("case", case_params())
def test_lowering(case):
    run_case(case)
