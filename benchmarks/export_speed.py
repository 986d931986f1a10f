"""Export speed and size: prints figures for docs/performance.md.

    python benchmarks/export_speed.py

Measures, on the machine it runs on: a fresh process's import + first export (the cost a CLI
user pays), then warm export times (median of several runs) and model sizes for a few models.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import textwrap
import time

COLD = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    from flax import nnx
    import jax2onnx
    t1 = time.perf_counter()
    import sys
    sys.path.insert(0, "packages/examples/src")
    from jax2onnx_examples.mlp import make_mlp
    model = make_mlp()
    t2 = time.perf_counter()
    jax2onnx.to_onnx(model, [("B", 30)])
    t3 = time.perf_counter()
    print(f"{t1 - t0:.3f} {t3 - t2:.3f}")
""")


def cold_start() -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True).stdout
    imp, first = out.split()
    return float(imp), float(first)


def models():
    import os

    from flax import nnx

    from jax2onnx_examples.cnn import CNN
    from jax2onnx_examples.mlp import make_mlp
    from jax2onnx_examples.transformer import EncoderBlock

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import Wide

    yield "mlp (quickstart)", make_mlp(), [("B", 30)]
    yield "cnn (2 conv)", CNN(rngs=nnx.Rngs(0)), [("B", 28, 28, 1)]
    yield "transformer block", EncoderBlock(64, 4, 256, rngs=nnx.Rngs(0)), [("B", 16, 64)]
    yield "deep mlp 24x1024 (100 MB)", Wide(1024, 24, rngs=nnx.Rngs(0)), [("B", 1024)]


def main() -> None:
    from jax2onnx import to_onnx

    imp, first = cold_start()
    print(f"cold: import jax2onnx+flax {imp:.2f} s, first export of the quickstart MLP {first:.2f} s")
    print(f"{'model':28} {'export (median)':>16} {'nodes':>6} {'size':>10}")
    for name, model, specs in models():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            proto = to_onnx(model, specs)
            times.append(time.perf_counter() - t0)
        size = proto.ByteSize()
        print(f"{name:28} {statistics.median(times):>14.3f} s {len(proto.graph.node):>6} {size / 1e6:>8.2f} MB")


if __name__ == "__main__":
    main()
