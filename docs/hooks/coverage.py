"""mkdocs hook: fills the coverage and examples pages from the installed plugins' metadata.

Test status comes from the JSON that ``pytest --jax2onnx-report=test-results.json`` writes;
without it the status column says "not run". Nothing here is written by hand, so it cannot drift.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

MARKERS = {"<!-- coverage-tables -->": "coverage", "<!-- examples-table -->": "examples"}
RESULTS = os.environ.get("JAX2ONNX_TEST_RESULTS", "test-results.json")
SECTIONS = [
    ("jax2onnx-examples", "Examples"),
    ("jax2onnx-plugins-nnx", "Flax NNX"),
    ("jax2onnx-plugins-lax", "jax.lax, jax.numpy, jax.nn"),
]


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, kind in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, render(kind))
    return markdown


def _results() -> dict[str, str]:
    if not os.path.exists(RESULTS):
        return {}
    with open(RESULTS) as fh:
        return json.load(fh)


def _status(component: str, testcase: str, results: dict[str, str]) -> str:
    outcomes = {v for k, v in results.items() if k.startswith(f"{component}::{testcase}-op")}
    if not outcomes:
        return "not run"
    if outcomes == {"passed"}:
        return "✅"
    return "❌" if "failed" in outcomes else "⏭️"


def render(kind: str) -> str:
    from jax2onnx.registry import get_registry

    rows = get_registry().all_lowerings()
    results = _results()
    by_dist = defaultdict(list)
    for row in rows:
        by_dist[row.distribution].append(row)
    wanted = [s for s in SECTIONS if (s[0] == "jax2onnx-examples") == (kind == "examples")]
    others = [(d, d) for d in sorted(by_dist) if d not in {s[0] for s in SECTIONS}] if kind == "coverage" else []
    out = []
    total_cases = sum(len(r.testcases) for r in rows)
    if kind == "coverage":
        out.append(f"{len(rows)} components, {total_cases} testcases"
                   + (f", {sum(v == 'passed' for v in results.values())} of {len(results)} test runs passed."
                      if results else "."))
    for dist, title in wanted + others:
        entries = sorted(by_dist.get(dist, []), key=lambda r: r.component)
        if not entries:
            continue
        out.append(f"\n## {title}\n\n`{dist}`\n")
        if dist == "jax2onnx-examples":
            out.extend(_example_rows(entries, results))
            continue
        out.append("| Component | ONNX ops | Testcases | Since |")
        out.append("|---|---|---|---|")
        for row in entries:
            name = f"[`{row.component}`]({row.doc})" if row.doc else f"`{row.component}`"
            onnx_ops = ", ".join(f"`{op}`" for op in row.onnx) or "—"
            if row.via:
                onnx_ops += " (via " + ", ".join(f"`{v}`" for v in row.via) + ")"
            cases = "<br>".join(f"`{tc.name}` {_status(row.component, tc.name, results)}" for tc in row.testcases)
            out.append(f"| {name} | {onnx_ops} | {cases or '—'} | {row.since} |")
    return "\n".join(out) + "\n"


def _example_rows(entries, results: dict[str, str]) -> list[str]:
    """The examples table: the examples' own metadata (description, parameter counts, parts) and test status."""
    from jax2onnx_examples._zoo import EXAMPLES

    out = ["| Example | Description | Parameters (tested / full size) | Built from | Testcases | Since |",
           "|---|---|---|---|---|---|"]
    for row in entries:
        ex = EXAMPLES.get(row.component.removeprefix("examples."))
        if ex is None:
            continue
        parts = ", ".join(f"`{c}`" for c in ex.components)
        cases = "<br>".join(f"`{tc.name}` {_status(row.component, tc.name, results)}" for tc in row.testcases)
        out.append(f"| `{ex.name}` | {ex.description} | {ex.param_count('small'):,} / {ex.param_count('full'):,} "
                   f"| {parts} | {cases} | {ex.since} |")
    return out
