"""Failures seen only on JAX 0.11+ (Python 3.12+), listed with their reasons until fixed.

Each is an xfail that is strict: once it passes there, the run fails and the entry must go.
"""

import jax
import pytest

NEWER_JAX = tuple(int(p) for p in jax.__version__.split(".")[:2]) >= (0, 11)

KNOWN_ON_NEWER_JAX = {
    "tests/test_equinox.py::test_vmapped_block_native_ops_and_module_path_names":
        "JAX 0.12 name stacks: nodes are not yet named after the module path (ops and numbers match)",
    "tests/test_nnx.py::test_mlp_graph_and_initializer_names":
        "JAX 0.12 name stacks: nodes are not yet named after the module path (ops and numbers match)",
}


def pytest_collection_modifyitems(items):
    if not NEWER_JAX:
        return
    for item in items:
        reason = KNOWN_ON_NEWER_JAX.get(item.nodeid)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
