"""Full-size examples: export, load in ONNX Runtime, match JAX; print time, memory, size, latency.

    python benchmarks/zoo_full.py [NAME ...]        # default: gpt2 vit_dino_registers

Each example runs in its own process (so peak RSS is that model's): export of the full config
to a file (external data where large), ONNX Runtime load, one batch-1 run compared with JAX,
then the median latency of ONNX Runtime and of JAX ``jit`` on the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

WORKER = """
import json, os, resource, statistics, sys, time
import jax, numpy as np, onnxruntime as ort
from jax2onnx import allclose, save_onnx
from jax2onnx_examples._zoo import load_all

name, directory = sys.argv[1], sys.argv[2]
example = load_all()[name]
fn, specs = example.make("full")
path = os.path.join(directory, name + ".onnx")
t0 = time.perf_counter()
save_onnx(fn, specs, path, input_dtypes=example.input_dtypes)
export_s = time.perf_counter() - t0
size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
inputs = example.sample_inputs("full", batch=1)
ok, message = allclose(fn, path, inputs, rtol=example.rtol * 10, atol=example.atol * 10)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
feeds = {m.name: x for m, x in zip(session.get_inputs(), inputs)}
jitted = jax.jit(fn)

def median(run, n=10):
    run()
    times = []
    for _ in range(n):
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)

print(json.dumps({
    "example": name, "parameters": example.param_count("full"), "export s": round(export_s, 2),
    "peak rss GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    "file MB": round(size / 1e6, 1), "matches JAX": ok, "check": message.split(";")[0],
    "ort ms (batch 1)": round(median(lambda: session.run(None, feeds)), 2),
    "jax jit ms (batch 1)": round(median(lambda: jax.block_until_ready(jitted(*inputs))), 2),
}))
"""


def main(names: list[str]) -> None:
    rows = []
    for name in names or ["gpt2", "vit_dino_registers"]:
        with tempfile.TemporaryDirectory() as directory:
            out = subprocess.run([sys.executable, "-c", WORKER, name, directory], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if rows:
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    main(sys.argv[1:])
