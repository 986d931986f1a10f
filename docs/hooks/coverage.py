"""mkdocs hook: the generated pages, from the installed plugins' metadata and the last test run.

Every installed distribution that registers the ``jax2onnx.plugins`` entry-point group gets its
own coverage section (found the way core finds plugins, so a third-party package installed next
to ours appears too). Test status comes from the JSON that
``pytest --jax2onnx-report=test-results.json`` writes; the models the testing kit saves with
``JAX2ONNX_SAVE_MODELS=build/models`` are copied into the site and linked to Netron. Without them
every status is ➖ ("not run") and there are no model links. Nothing here is written by hand.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
from collections import defaultdict
from typing import Any

RESULTS = os.environ.get("JAX2ONNX_TEST_RESULTS", "test-results.json")
MODELS = os.environ.get("JAX2ONNX_MODELS_DIR", os.path.join("build", "models"))
MARKERS = {
    "<!-- coverage-tables -->": "coverage",
    "<!-- examples-table -->": "examples",
    "<!-- api-surface -->": "surface",
    "<!-- onnx-operators -->": "operators",
    "<!-- known-failures -->": "failures",
    "<!-- opset-floors -->": "floors",
}
KNOWN_FAILURES = os.path.join("tests", "conformance", "known_failures.toml")
TITLES = {
    "jax2onnx-examples": "Examples",
    "jax2onnx-plugins-nnx": "Flax NNX",
    "jax2onnx-plugins-lax": "jax.lax, jax.numpy, jax.nn",
    "jax2onnx-plugins-equinox": "Equinox",
}
ONNX_DOC = "https://onnx.ai/onnx/operators/onnx__{}.html"
NETRON = "https://netron.app/?url={}"
# Public namespaces whose entries the API-surface page lists: (module, how code spells it).
SURFACES = [
    ("jax.numpy", ("jnp.", "jax.numpy.")),
    ("jax.lax", ("lax.", "jax.lax.")),
    ("jax.nn", ("jax.nn.", "nn.")),
    ("jax.random", ("jax.random.", "random.", "jr.")),
    ("flax.nnx", ("nnx.",)),
    ("equinox.nn", ("eqx.nn.",)),
]

_site_url = ""


def on_config(config: Any) -> Any:
    global _site_url
    _site_url = (config.get("site_url") or "").rstrip("/") + "/"
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, kind in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, RENDER[kind](Run.load()))
    return markdown


def on_post_build(config: Any) -> None:
    """The kit's saved models become part of the site, next to the pages that link them."""
    if os.path.isdir(MODELS):
        shutil.copytree(MODELS, os.path.join(config["site_dir"], "models"), dirs_exist_ok=True)


class Run:
    """The installed plugins' rows, the last test run's outcomes and the models it saved."""

    def __init__(self, rows: list[Any], results: dict[str, str], models: set[str]):
        self.rows, self.results, self.models = rows, results, models
        self.opsets = sorted({int(m.group(1)) for k in results if (m := re.search(r"-op(\d+)", k))}, reverse=True)

    @classmethod
    def load(cls) -> Run:
        from jax2onnx.registry import get_registry

        results: dict[str, str] = {}
        if os.path.exists(RESULTS):
            with open(RESULTS) as fh:
                results = json.load(fh)
        models = set(os.listdir(MODELS)) if os.path.isdir(MODELS) else set()
        return cls(get_registry().all_lowerings(), results, models)

    def outcome(self, row: Any, testcase: Any, opset: int) -> str:
        """✅ passed (float32 and float64 runs), ❌ failed, ➖ not run or skipped."""
        prefix = f"{row.component}::{testcase.name}-op{opset}"
        outcomes = {v for k, v in self.results.items() if k == prefix or k == prefix + "-f64"}
        if "failed" in outcomes:
            return "❌"
        return "✅" if outcomes == {"passed"} else "➖"

    def badges(self, row: Any, testcase: Any) -> str:
        if not self.opsets:
            return "➖"
        parts = []
        for opset in self.opsets:
            mark = self.outcome(row, testcase, opset)
            model = f"{testcase.name}-op{opset}.onnx"
            if model in self.models:
                parts.append(f"[{mark}{opset}]({NETRON.format(_site_url + 'models/' + model)} "
                             f'"open the opset {opset} model in Netron")')
            else:
                parts.append(f"{mark}{opset}")
        return " ".join(parts)

    def status(self, row: Any, testcase: Any) -> str:
        marks = {self.outcome(row, testcase, o) for o in self.opsets} or {"➖"}
        return "❌" if "❌" in marks else ("✅" if marks == {"✅"} else "➖")


def _ops(row: Any) -> str:
    text = ", ".join(f"[`{op}`]({ONNX_DOC.format(op)})" for op in row.onnx) or "—"
    if row.via:
        text += " (via " + ", ".join(f"`{v}`" for v in row.via) + ")"
    return text


def _name(row: Any) -> str:
    return f"[`{row.component}`]({row.doc})" if row.doc else f"`{row.component}`"


def _by_distribution(run: Run) -> dict[str, list[Any]]:
    by_dist: dict[str, list[Any]] = defaultdict(list)
    for row in run.rows:
        by_dist[row.distribution].append(row)
    return by_dist


def _distributions(run: Run, examples: bool) -> list[str]:
    names = sorted(_by_distribution(run), key=lambda d: (list(TITLES).index(d) if d in TITLES else 99, d))
    return [d for d in names if (d == "jax2onnx-examples") == examples]


def render_coverage(run: Run) -> str:
    cases = [(row, tc) for row in run.rows for tc in row.testcases]
    passed = sum(run.status(row, tc) == "✅" for row, tc in cases)
    out = [f"{len(run.rows)} components, {len(cases)} testcases"
           + (f"; at opsets {', '.join(map(str, run.opsets))}, {passed} testcases pass everywhere."
              if run.opsets else "; no test results recorded in this build (every status is ➖).")]
    by_dist = _by_distribution(run)
    for dist in _distributions(run, examples=False):
        entries = sorted(by_dist[dist], key=lambda r: r.component)
        out += [f"\n## {TITLES.get(dist, dist)}\n", f"`{dist}`: {len(entries)} components\n",
                "| Component | ONNX ops | Testcases (status per opset) | Since |", "|---|---|---|---|"]
        for row in entries:
            tcs = "<br>".join(f"`{tc.name}` {run.badges(row, tc)}" for tc in row.testcases) or "—"
            out.append(f"| {_name(row)} | {_ops(row)} | {tcs} | {row.since} |")
    return "\n".join(out) + "\n"


def render_examples(run: Run) -> str:
    """The examples table, from the examples' own metadata (description, sizes, parts) and test status."""
    from jax2onnx_examples._zoo import EXAMPLES

    out = ["| Example | Description | Parameters (tested / full size) | Built from | Testcases | Since |",
           "|---|---|---|---|---|---|"]
    for dist in _distributions(run, examples=True):
        for row in sorted(_by_distribution(run)[dist], key=lambda r: r.component):
            ex = EXAMPLES.get(row.component.removeprefix("examples."))
            tcs = "<br>".join(f"`{tc.name}` {run.badges(row, tc)}" for tc in row.testcases) or "—"
            if ex is None:
                out.append(f"| {_name(row)} | — | — | — | {tcs} | {row.since} |")
                continue
            parts = ", ".join(f"`{c}`" for c in ex.components)
            out.append(f"| `{ex.name}` | {ex.description} | {ex.param_count('small'):,} / "
                       f"{ex.param_count('full'):,} | {parts} | {tcs} | {ex.since} |")
    return "\n".join(out) + "\n"


def render_operators(run: Run) -> str:
    import onnx

    from jax2onnx import legacy
    from jax2onnx.api import MIN_OPSET

    emitters: dict[str, list[Any]] = defaultdict(list)
    for row in run.rows:
        for op in row.onnx:
            emitters[op].append(row)
    first = {}
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain in ("", "ai.onnx"):
            first[schema.name] = min(first.get(schema.name, 10**6), schema.since_version)
    out = [f"{len(emitters)} ONNX operators are emitted by {len(run.rows)} components.\n",
           "| ONNX operator | Emitted from opset | Emitted by |", "|---|---|---|"]
    for op in sorted(emitters):
        since = max(MIN_OPSET, first.get(op, MIN_OPSET), legacy.shown_from(op))
        link = f"[`{op}`]({ONNX_DOC.format(op)})" if op in first else f"`{op}`"
        rows = ", ".join(sorted({f"`{r.component}`" for r in emitters[op]}))
        out.append(f"| {link} | {since} | {rows} |")
    return "\n".join(out) + "\n"


def _public(module_name: str) -> list[str]:
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return []
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return sorted(n for n in names if not n.startswith("_") and callable(getattr(module, n, None)))


def _sources(run: Run) -> list[tuple[Any, Any, str]]:
    found = []
    for row in run.rows:
        for tc in row.testcases:
            try:
                text = inspect.getsource(tc.fn or tc.factory)
            except (OSError, TypeError):
                text = ""
            found.append((row, tc, text))
    return found


def render_surface(run: Run) -> str:
    sources = _sources(run)
    sections, total, covered = [], 0, 0
    for module, spellings in SURFACES:
        names = _public(module)
        if not names:
            continue
        lines = ["| Entry | Testcases |", "|---|---|"]
        hit = 0
        for name in names:
            full = f"{module}.{name}"
            pattern = re.compile("|".join(re.escape(s) + re.escape(name) + r"\b" for s in spellings))
            users = [(row, tc) for row, tc, text in sources
                     if row.component in (full, name) or (text and pattern.search(text))]
            hit += bool(users)
            cases = ", ".join(f"`{tc.name}` {run.status(row, tc)}" for row, tc in users[:6])
            if len(users) > 6:
                cases += f" and {len(users) - 6} more"
            lines.append(f"| `{full}` | {cases or 'no testcase yet'} |")
        total, covered = total + len(names), covered + hit
        sections.append(f"\n## `{module}`\n\n{hit} of {len(names)} entries have a testcase "
                        f"({100 * hit / len(names):.0f}%).\n\n" + "\n".join(lines))
    head = f"{covered} of {total} public entries have at least one testcase ({100 * covered / max(total, 1):.0f}%)."
    return head + "\n" + "\n".join(sections) + "\n"


def render_failures(run: Run) -> str:
    """The JAX harness cases that fail conformance, from the list the conformance test holds to."""
    import tomllib

    with open(KNOWN_FAILURES, "rb") as fh:
        sections = tomllib.load(fh)
    out = []
    for section, entries in sections.items():
        title = section.replace("_", " ").capitalize()
        out += [f"\n### {title}\n", "| JAX harness cases | Why | JAX |", "|---|---|---|"]
        for pattern, entry in entries.items():
            reason, jax = (entry, "all") if isinstance(entry, str) else (entry["reason"], f"`{entry['jax']}`")
            out.append(f"| `{pattern}` | {reason} | {jax} |")
    return "\n".join(out) + "\n"


def render_floors(run: Run) -> str:
    """Testcases that cannot export below some opset, grouped by the reason their authors give."""
    from jax2onnx.testing.kit import opset_floors

    grouped: dict[tuple[int, str], list[str]] = defaultdict(list)
    for name, opset, reason in opset_floors():
        grouped[(opset, reason)].append(name)
    out = ["| Needs opset | Why | Testcases |", "|---|---|---|"]
    for (opset, reason), names in sorted(grouped.items()):
        out.append(f"| {opset} | {reason} | {', '.join(f'`{n}`' for n in sorted(names))} |")
    return "\n".join(out) + "\n"


RENDER = {"coverage": render_coverage, "examples": render_examples, "operators": render_operators,
          "surface": render_surface, "failures": render_failures, "floors": render_floors}
