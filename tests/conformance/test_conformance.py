"""JAX's own primitive harnesses through export, onnx.checker, ONNX Runtime and comparison with JAX.

The default run takes a deterministic sample of every group; ``-m conformance_full`` (or
``JAX2ONNX_CONFORMANCE=full``) runs every harness. A failure must be listed in
known_failures.toml with its reason, and a listed entry whose cases now all pass must go.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from . import runner

SAMPLE = runner.groups(runner.sample())
ALL = runner.groups()


def _check(cases, record_property):
    results = [runner.run_harness(h) for h in cases]
    record_property("jax2onnx_conformance", json.dumps([dataclasses.asdict(r) for r in results]))
    unlisted, stale = runner.audit(results, runner.known_failures())
    problems = [f"{r.case}: {r.stage}: {r.message}" for r in unlisted]
    problems += [f"{e.pattern} is listed ({e.reason}) but every case it matches here passes: drop it"
                 for e in stale]
    assert not problems, "\n".join(problems)


@pytest.mark.conformance_sample
@pytest.mark.parametrize("group", sorted(SAMPLE))
def test_sample(group, record_property):
    _check(SAMPLE[group], record_property)


@pytest.mark.conformance_full
@pytest.mark.parametrize("group", sorted(ALL))
def test_full(group, record_property):
    _check(ALL[group], record_property)


def test_known_failures_have_reasons_and_match_harnesses():
    names = [runner.case_id(h) for h in runner.harnesses()]
    for entry in runner.known_failures():
        assert entry.reason.strip(), f"{entry.pattern}: no reason given"
        assert any(runner.listed(n, [entry]) for n in names), f"{entry.pattern} matches no harness"
