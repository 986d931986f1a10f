"""Exporter benchmarks, side by side with another jax2onnx release: prints JSON and a table.

    python benchmarks/compare.py [--quick] [--other PATH/TO/OTHER/VENV/bin/python] [--json out.json]

Each interpreter runs the same measurements on the same models (``benchmarks/models.py``, plain
Flax): the other release lives in its own venv because it has the same import name. Figures:

- ``cold``: a fresh process imports jax2onnx and Flax and exports the quickstart MLP to a file,
  next to the floor: a fresh process that imports JAX, Flax NNX and ONNX and traces a trivial
  function (alternating, median of runs);
- ``export``: warm export time of a GPT-2-style decoder (768 wide) per depth, best of runs
  (the depths in turn, round by round);
- ``ort``: ONNX Runtime latency of the exported MLP, ViT and decoder at batch 1 and 32, with one
  thread and with ONNX Runtime's default threads, next to JAX ``jit`` on the CPU (timed in turn,
  round by round); node count
  and bytes per model;
- ``memory``: peak RSS of a process that builds and exports ~1.5 GB (and ~3 GB) of float32
  weights to a file, as a ratio to the weights' bytes (the model itself holds 1x): of the whole
  process, and of the export alone (the peak is reset once the model is built); the file is then
  loaded in ONNX Runtime and its output compared with JAX's.

With ``--other``, ``head to head`` then times both releases' models of each kind in one ONNX Runtime
process, in turn round by round: the fairest latency comparison when the machine's load may change
between the two interpreters' runs.

``--quick`` uses small sizes (a smoke run); the figures in docs/performance.md come from a full run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _interleaved_ms(calls: dict, runs: int) -> dict:
    """Median milliseconds of each call, timed in turn round by round (after one warm-up call each),
    so that a change in the machine's load falls on all of them alike."""
    times: dict = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def _tokens_spec(length: int):
    import jax
    import jax.numpy as jnp

    return [jax.ShapeDtypeStruct(jax.export.symbolic_shape(f"B, {length}"), jnp.int32)]


COLD = """
import sys, time
t0 = time.perf_counter()
from flax import nnx
import jax2onnx
sys.path.insert(0, {here!r})
from models import build
t1 = time.perf_counter()
model, specs = build("mlp")
t2 = time.perf_counter()
jax2onnx.to_onnx(model, specs, return_mode="file", output_path={path!r})
t3 = time.perf_counter()
print(t3 - t0, t2 - t1)
"""

# The floor of a cold start: a fresh process that imports JAX, Flax NNX and ONNX and traces a trivial
# function. Building the MLP is not in it (the exporter's cold start includes that).
FLOOR = """
import time
t0 = time.perf_counter()
import jax, jax.numpy as jnp, onnx
from flax import nnx
jax.make_jaxpr(lambda x: jnp.tanh(x) + 1.0)(jnp.zeros((2, 30)))
print(time.perf_counter() - t0)
"""


def _fresh_process_seconds(code: str) -> list[float]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.splitlines()[-1].split()]


def measure_cold(runs: int) -> dict:
    """Cold start and its floor, in alternating fresh processes (so both see the same machine).

    ``seconds`` is the whole cold start; ``without the model build`` leaves out building the MLP
    (Flax initialising its weights, which JAX compiles): that part is the same with any exporter
    or none, and is not in the floor.
    """
    cold, build, floor = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        code = COLD.format(here=HERE, path=os.path.join(tmp, "mlp.onnx"))
        for _ in range(runs):
            floor.append(_fresh_process_seconds(FLOOR)[0])
            total, building = _fresh_process_seconds(code)
            cold.append(total)
            build.append(total - building)
    seconds, floor_seconds = statistics.median(cold), statistics.median(floor)
    without_build = statistics.median(build)
    return {"seconds": seconds, "without the model build": without_build, "floor seconds": floor_seconds,
            "ratio to floor (without the model build)": without_build / floor_seconds, "runs": runs}


def measure_export(depths: list[int], runs: int) -> dict:
    """Warm export time per depth: the depths exported in turn, round by round, the best of ``runs``
    each (an export does the same work every time: a slower run only measures the machine's load)."""
    from models import build

    from jax2onnx import to_onnx

    models = {}
    for depth in depths:
        model, _ = build("decoder", layers=depth, length=64)
        models[depth] = model
        to_onnx(model, _tokens_spec(64))  # warm: caches and plugin imports
    times: dict = {depth: [] for depth in depths}
    for _ in range(runs):
        for depth, model in models.items():
            specs = _tokens_spec(64)
            start = time.perf_counter()
            to_onnx(model, specs)
            times[depth].append(time.perf_counter() - start)
    return {str(depth): min(t) for depth, t in times.items()}


ORT_MODELS = {
    "mlp": {},
    "vit": {"layers": 4, "width": 192, "heads": 3},
    "decoder": {"layers": 4, "width": 256, "heads": 4, "length": 32},
}


def measure_ort(batches: list[int], runs: int) -> dict:
    import jax
    import onnxruntime as ort
    from models import build

    from jax2onnx import to_onnx

    figures = {}
    for name, config in ORT_MODELS.items():
        model, specs = build(name, **config)
        if name == "decoder":
            specs = _tokens_spec(config["length"])
        proto = to_onnx(model, specs)
        row = {"nodes": len(proto.graph.node), "bytes": proto.ByteSize()}
        blob = proto.SerializeToString()
        jitted = jax.jit(lambda x, m=model: m(x))
        for batch in batches:
            x = _ort_input(name, batch)
            calls = {}
            for threads in (1, 0):
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
                label = "1 thread" if threads == 1 else "default threads"
                calls[f"ort b{batch} {label} ms"] = functools.partial(
                    session.run, None, {session.get_inputs()[0].name: x})
            calls[f"jax b{batch} ms"] = lambda: jitted(x).block_until_ready()
            row.update(_interleaved_ms(calls, runs))
        figures[name] = row
    return figures


def _ort_input(name: str, batch: int):
    import numpy as np

    rng = np.random.default_rng(0)
    if name == "decoder":
        return rng.integers(0, 1024, (batch, ORT_MODELS["decoder"]["length"])).astype(np.int32)
    if name == "vit":
        return rng.random((batch, 32, 32, 3), np.float32)
    return rng.random((batch, 30), np.float32)


def export_ort_models(folder: str) -> None:
    """Writes the ONNX Runtime models of ``measure_ort`` to ``folder`` (for the head-to-head timing)."""
    import onnx
    from models import build

    from jax2onnx import to_onnx

    for name, config in ORT_MODELS.items():
        model, specs = build(name, **config)
        if name == "decoder":
            specs = _tokens_spec(config["length"])
        onnx.save(to_onnx(model, specs), os.path.join(folder, f"{name}.onnx"))


def head_to_head(folders: dict, batches: list[int], runs: int) -> dict:
    """Each release's model of each kind timed in one ONNX Runtime process, in turn round by round:
    the fairest latency comparison on a machine whose load may change between separate runs."""
    import onnxruntime as ort

    figures: dict = {}
    for name in ORT_MODELS:
        for batch in batches:
            x = _ort_input(name, batch)
            for threads in (1, 0):
                calls = {}
                for release, folder in folders.items():
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = threads
                    session = ort.InferenceSession(os.path.join(folder, f"{name}.onnx"), options,
                                                   providers=["CPUExecutionProvider"])
                    calls[release] = functools.partial(session.run, None, {session.get_inputs()[0].name: x})
                label = "1 thread" if threads == 1 else "default threads"
                figures[f"{name} b{batch} {label} ms"] = _interleaved_ms(calls, runs)
    return figures


MEMORY = """
import gc, resource, sys
sys.path.insert(0, {here!r})
from models import build
import jax, jax2onnx
model, specs = build("wide", width=4096, depth={depth})
jax.block_until_ready(jax.tree_util.tree_leaves(model))  # the weights are built: no queued work holds temporaries
gc.collect()
whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
try:  # reset the peak (VmHWM) to the current RSS, so the export's own peak shows (Linux 4.0+)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
jax2onnx.to_onnx(model, specs, return_mode="file", output_path={path!r})
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
export = int(status["VmHWM"].split()[0]) * 1024 if reset else -1
peak = max(whole, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # before ONNX Runtime loads it
# The file loads in ONNX Runtime and computes what JAX computes.
import numpy as np, onnxruntime as ort
x = np.random.default_rng(0).standard_normal((2, 4096)).astype(np.float32)
session = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
got = session.run(None, {{session.get_inputs()[0].name: x}})[0]
error = float(np.max(np.abs(got - np.asarray(model(x)))))
print(peak, export, error)
"""


def measure_memory(sizes_gb: list[float]) -> dict:
    """Peak RSS per byte of weights: of the whole process (building the model included), and while
    exporting (the weights already in memory count as 1x; -1 where the peak cannot be reset)."""
    figures = {}
    layer = 4096 * 4096 * 4 + 4096 * 4
    for size in sizes_gb:
        depth = max(1, round(size * 1e9 / layer))
        with tempfile.TemporaryDirectory() as tmp:
            code = MEMORY.format(here=HERE, depth=depth, path=os.path.join(tmp, "wide.onnx"))
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        peak, export, error = out.split()[-3:]
        weights = depth * layer
        figures[f"{size} GB"] = {"weights bytes": weights, "peak rss bytes": int(peak), "ratio": int(peak) / weights,
                                 "export peak rss bytes": int(export), "export ratio": int(export) / weights,
                                 "max abs error vs JAX": float(error)}
    return figures


def worker(quick: bool) -> dict:
    import jax2onnx

    sys.path.insert(0, HERE)
    version = getattr(jax2onnx, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("jax2onnx")
    return {
        "release": version,
        "python": sys.executable,
        "cold": measure_cold(1 if quick else 5),
        "export": measure_export([2] if quick else [2, 4, 8, 16, 32], 1 if quick else 5),
        "ort": measure_ort([1, 4] if quick else [1, 32], 3 if quick else 30),
        "memory": measure_memory([0.1] if quick else [1.5, 3.0]),
    }


def table(results: list[dict]) -> str:
    keys = []

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix} / {k}" if prefix else k, v)
        elif isinstance(value, (int, float)) and prefix not in keys:
            keys.append(prefix)

    for r in results:
        walk("", {k: v for k, v in r.items() if k not in ("release", "python")})

    def get(r: dict, key: str):
        for part in key.split(" / "):
            r = r.get(part, {}) if isinstance(r, dict) else {}
        return r if isinstance(r, (int, float)) else None

    head = "| figure | " + " | ".join(f"jax2onnx {r['release']}" for r in results) + " |"
    lines = [head, "|---|" + "---|" * len(results)]
    for key in keys:
        cells = []
        for r in results:
            v = get(r, key)
            cells.append("—" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.4g}"))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--other", help="python of a venv with another jax2onnx release, measured alike")
    parser.add_argument("--json", help="write the figures here as well")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export-models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.quick)))
        return
    if args.export_models:
        sys.path.insert(0, HERE)
        export_ort_models(args.export_models)
        return
    results = []
    pythons = [sys.executable, *([args.other] if args.other else [])]
    for python in pythons:
        command = [python, os.path.abspath(__file__), "--worker", *(["--quick"] if args.quick else [])]
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    if args.other:
        with tempfile.TemporaryDirectory() as tmp:
            folders = {}
            for python, result in zip(pythons, results):
                folder = folders[f"jax2onnx {result['release']}"] = os.path.join(tmp, result["release"])
                os.makedirs(folder)
                subprocess.run([python, os.path.abspath(__file__), "--export-models", folder], check=True, cwd=HERE)
            versus = head_to_head(folders, [1, 4] if args.quick else [1, 32], 3 if args.quick else 40)
        for result in results:
            release = f"jax2onnx {result['release']}"
            result["head to head"] = {key: row[release] for key, row in versus.items()}
    text = json.dumps(results, indent=1)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text)
    print(text)
    print(table(results))


if __name__ == "__main__":
    main()
