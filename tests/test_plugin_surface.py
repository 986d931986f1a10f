"""Our plugins use only the public plugin API, as a third party's must: ``jax2onnx.plugin`` and ``jax2onnx``."""

import ast
from pathlib import Path

import pytest

import jax2onnx
import jax2onnx.plugin
from jax2onnx import lower
from jax2onnx.plugin import LoweringContext

ROOT = Path(__file__).parent.parent
PLUGIN_SOURCES = sorted(p for name in ("plugins-lax", "plugins-nnx", "plugins-equinox", "examples")
                        for p in (ROOT / "packages" / name / "src").rglob("*.py"))
PUBLIC = {"jax2onnx": set(jax2onnx.__all__), "jax2onnx.plugin": set(jax2onnx.plugin.__all__)}
CONTEXT_MEMBERS = {name for name in vars(LoweringContext) if not name.startswith("_")}
# Names a rule's context goes by in our plugins (``c`` and ``body_ctx`` in control-flow bodies; a lambda's
# ``c`` in a testcase is an array).
CONTEXT_NAMES = {"ctx", "c", "body_ctx"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "jax2onnx":
            allowed = PUBLIC.get(node.module, set())
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name not in allowed]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "jax2onnx" and a.name not in PUBLIC]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "jax2onnx":
            if node.attr not in PUBLIC["jax2onnx"] | {"plugin"}:
                found.append(f"line {node.lineno}: jax2onnx.{node.attr}")
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)) and node.args.args:
            first = node.args.args[0].arg
            if first in (CONTEXT_NAMES if isinstance(node, ast.FunctionDef) else {"ctx"}):
                body = node.body if isinstance(node.body, list) else [node.body]
                found += [f"line {a.lineno}: {first}.{a.attr}" for stmt in body for a in ast.walk(stmt)
                          if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and a.value.id == first
                          and a.attr not in CONTEXT_MEMBERS]
    return found


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT / "packages")))
def test_plugin_module_uses_only_the_public_plugin_api(path):
    assert _violations(path) == []


def test_the_check_catches_reaching_into_core(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from jax2onnx.builder import tensor_type\nimport jax2onnx.registry\n"
                   "from jax2onnx.plugin import Testcase, registered_in\n"
                   "def rule(ctx, x):\n    return ctx.builder.op('Add', [x, x])\n")
    assert [v.split(":")[0] for v in _violations(bad)] == ["line 1", "line 2", "line 5"]


def test_core_context_implements_every_member_of_the_protocol():
    ctx_attributes = {"op", "vmapped"}  # set per instance in __init__
    missing = {m for m in CONTEXT_MEMBERS if not hasattr(lower.LoweringContext, m)} - ctx_attributes
    assert missing == set()
