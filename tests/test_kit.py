"""The testing kit itself: stable random inputs, and failures that say how to reproduce them."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from jax2onnx import plugin
from jax2onnx.testing import Case, run_case

SEED_OF = "from jax2onnx.testing.kit import input_seed; print(input_seed('add_basic', 2))"


def test_input_seed_does_not_depend_on_the_hash_seed():
    seeds = {subprocess.run([sys.executable, "-c", SEED_OF], capture_output=True, text=True, check=True,
                            env=dict(os.environ, PYTHONHASHSEED=str(h))).stdout for h in (0, 1, 2)}
    assert len(seeds) == 1


def test_a_mismatch_names_the_seed_of_its_inputs():
    # A testcase whose expected values are deliberately not what the export computes.
    def wrong(x):
        return jnp.sin(x) + (0 if isinstance(x, jax.core.Tracer) else 0.5)

    tc = plugin.Testcase("kit_seed_probe", fn=lambda x: jnp.sin(x), inputs=[("B", 3)], x64=False)
    row = plugin.Lowering("sin", None, "probe", ("Sin",), "0", testcases=(tc,))
    run_case(Case(row, tc, 23, False))  # the honest case passes
    broken = plugin.Testcase("kit_seed_probe", fn=wrong, inputs=[("B", 3)], x64=False)
    with pytest.raises(AssertionError, match=r"default_rng\(\d+\)"):
        run_case(Case(row, broken, 23, False))
