"""pytest plugin (entry point ``pytest11``): prints the coverage summary and can save results.

``--jax2onnx-report=PATH`` writes ``{test id: outcome}`` for the lowering tests, which the docs
build turns into the status column of the coverage tables.
"""

from __future__ import annotations

import json
from typing import Any

from .kit import MIN_OPSET, Case, opset_floors

_results: dict[str, str] = {}
_lowerings: set[str] = set()


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--jax2onnx-report", default=None, help="write lowering test outcomes as JSON to this path")


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        key = report.nodeid
        if "[" in key and report.user_properties:
            props = dict(report.user_properties)
            if "jax2onnx_case" in props:
                _results[props["jax2onnx_case"]] = report.outcome
                _lowerings.add(props["jax2onnx_target"])


def pytest_collection_modifyitems(items: list) -> None:
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("case")
        if isinstance(case, Case):
            item.user_properties.append(("jax2onnx_case", f"{case.lowering.component}::{case.id}"))
            item.user_properties.append(("jax2onnx_target", case.lowering.target))


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    if not _results:
        return
    passed = sum(1 for v in _results.values() if v == "passed")
    terminalreporter.write_line(
        f"jax2onnx: {len(_lowerings)} lowerings, {len(_results)} testcases, {passed} passed")
    floors = opset_floors()
    if floors:
        terminalreporter.write_line(f"jax2onnx: {len(floors)} testcases need an opset above {MIN_OPSET}:")
        for name, opset, reason in floors:
            terminalreporter.write_line(f"  {name}: opset {opset} ({reason})")
    path = config.getoption("--jax2onnx-report")
    if path:
        with open(path, "w") as fh:
            json.dump(dict(sorted(_results.items())), fh, indent=1)
