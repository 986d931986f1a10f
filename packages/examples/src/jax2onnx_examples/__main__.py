"""Command line: list the examples, or export one and check it against JAX.

    python -m jax2onnx_examples list
    python -m jax2onnx_examples export NAME -o DIR [--size small|full] [--opset 23]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import jax
import numpy as np

from ._zoo import load_all


def _list(args: argparse.Namespace) -> int:
    examples = load_all()
    width = max(map(len, examples))
    print(f"{'name':<{width}}  {'small':>11}  {'full':>13}  since  description")
    for name, ex in examples.items():
        full = f"{ex.param_count('full'):,}" if args.full_counts else "-"
        print(f"{name:<{width}}  {ex.param_count('small'):>11,}  {full:>13}  {ex.since:<5}  {ex.description}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from jax2onnx import allclose, save_onnx

    examples = load_all()
    if args.name not in examples:
        print(f"unknown example {args.name!r}; `python -m jax2onnx_examples list` shows them", file=sys.stderr)
        return 2
    ex = examples[args.name]
    if args.size not in ex.configs:
        print(f"{args.name} has no {args.size!r} config (it has {', '.join(ex.configs)})", file=sys.stderr)
        return 2
    fn, specs = ex.make(args.size)
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, f"{args.name}{'' if args.size == 'small' else '_' + args.size}.onnx")
    start = time.perf_counter()
    save_onnx(fn, specs, path, input_dtypes=ex.input_dtypes, opset=args.opset)
    seconds = time.perf_counter() - start
    files = [p for p in (path, path + ".data") if os.path.exists(p)]
    size = sum(os.path.getsize(p) for p in files)
    print(f"{args.name} ({args.size}, {ex.param_count(args.size):,} parameters): wrote "
          f"{', '.join(files)} ({size / 2**20:.1f} MiB) in {seconds:.1f} s")
    ok, message = allclose(fn, path, [jax.numpy.asarray(v) for v in ex.sample_inputs(args.size)],
                           rtol=ex.rtol, atol=ex.atol)
    print(f"check against JAX (batch 2, rtol={ex.rtol}, atol={ex.atol}): {'OK' if ok else 'MISMATCH'}: {message}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jax2onnx_examples", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the examples with parameter counts and descriptions")
    listing.add_argument("--full-counts", action="store_true", help="also count the full configs' parameters")
    listing.set_defaults(run=_list)
    export = commands.add_parser("export", help="export one example to DIR and compare it with JAX")
    export.add_argument("name")
    export.add_argument("-o", "--output", required=True, help="directory for NAME.onnx (and NAME.onnx.data)")
    export.add_argument("--size", default="small", help="config: small (the testcase's) or full")
    export.add_argument("--opset", type=int, default=23)
    export.set_defaults(run=_export)
    args = parser.parse_args(argv)
    np.set_printoptions(precision=4)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
