"""Conformance options: the full run is opt-in; every run prints one line per group and a total."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_results: list[dict] = []


def full_run(config: Any) -> bool:
    return os.environ.get("JAX2ONNX_CONFORMANCE") == "full" or "conformance_full" in (config.option.markexpr or "")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "conformance_sample: a deterministic sample of every harness group")
    config.addinivalue_line("markers", "conformance_full: every JAX harness (opt-in: -m conformance_full or "
                                       "JAX2ONNX_CONFORMANCE=full)")


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    full = full_run(config)
    skip = pytest.mark.skip(reason="opt-in: -m conformance_full or JAX2ONNX_CONFORMANCE=full")
    for item in items:
        if "conformance_full" in item.keywords and not full:
            item.add_marker(skip)
        elif "conformance_sample" in item.keywords and full:
            item.add_marker(pytest.mark.skip(reason="the full run covers the sample"))


def pytest_runtest_logreport(report: Any) -> None:
    # user_properties travel from xdist workers to the controller, which prints the summary.
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "jax2onnx_conformance":
                _results.extend(json.loads(value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _results:
        return
    from .runner import Result, summary

    terminalreporter.section("JAX harness conformance")
    for line in summary([Result(**r) for r in _results]):
        terminalreporter.write_line(line)
