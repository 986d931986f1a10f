"""The testing kit: turns plugin testcases into export → check → ONNX Runtime → compare-with-JAX tests.

A plugin package's tests use it as the project's own do::

    from jax2onnx.testing import case_params, run_case

    @pytest.mark.parametrize("case", case_params("acme-jax2onnx-plugins"))
    def test_lowering(case):
        run_case(case)

    def test_index():
        check_plugin_index("acme-jax2onnx-plugins")
"""

from __future__ import annotations

from .index_check import check_plugin_index
from .kit import Case, case_params, collect_cases, opset_floors, run_case

__all__ = ["Case", "case_params", "check_plugin_index", "collect_cases", "opset_floors", "run_case"]
