"""The examples' own metadata: what each model is, its configs (small for tests, full for benchmarks), its size.

An example registers once with :func:`example`: that records an :class:`Example` (read by the command line and
the docs) and declares its coverage row, whose default testcase exports the small config at a symbolic batch.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jax2onnx.plugin import Testcase, coverage

# Float32 bar of the examples (issue: f32 rtol 1e-4, atol 1e-5); a testcase that needs more says why.
RTOL, ATOL = 1e-4, 1e-5


@dataclasses.dataclass(frozen=True)
class Example:
    """One model of the zoo. ``build(config)`` returns the callable to export, ``inputs(config)`` its input specs."""

    name: str
    description: str
    components: tuple[str, ...]
    since: str
    build: Callable[[Any], Callable]
    inputs: Callable[[Any], list]
    configs: Mapping[str, Any]
    input_dtypes: Sequence[Any] | None = None
    input_values: Callable | None = None
    rtol: float = RTOL
    atol: float = ATOL

    def make(self, size: str = "small") -> tuple[Callable, list]:
        config = self.configs[size]
        return self.build(config), self.inputs(config)

    def param_count(self, size: str = "small") -> int:
        """Parameters of the model at ``size``, counted on abstract arrays (nothing is initialised for NNX)."""
        from flax import nnx

        config = self.configs[size]
        try:
            model = nnx.eval_shape(lambda: self.build(config))
        except Exception:  # a model that is not NNX (Linen, Equinox) is built for real: they are small
            model = self.build(config)
        return count_params(model)

    def sample_inputs(self, size: str = "small", batch: int = 2, seed: int = 0) -> list[np.ndarray]:
        """Concrete inputs for the specs at ``size``, every symbolic dim set to ``batch``."""
        specs = self.inputs(self.configs[size])
        shapes = [tuple(d if isinstance(d, int) else batch for d in spec) for spec in specs]
        dtypes = self.input_dtypes or [np.float32] * len(shapes)
        rng = np.random.default_rng(seed)
        if self.input_values is not None:
            return [np.asarray(v, dtype=d) for v, d in zip(self.input_values(rng, shapes), dtypes)]
        return [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]


def count_params(model: Any) -> int:
    from flax import nnx

    if isinstance(model, nnx.Module):
        leaves = jax.tree_util.tree_leaves(nnx.state(model, nnx.Param))
    else:
        leaves = jax.tree_util.tree_leaves(getattr(model, "params", model))
    return sum(math.prod(x.shape) for x in leaves if hasattr(x, "shape"))


EXAMPLES: dict[str, Example] = {}


def example(
    name: str,
    *,
    description: str,
    components: Sequence[str],
    onnx: Sequence[str],
    since: str,
    build: Callable[[Any], Callable],
    inputs: Callable[[Any], list],
    configs: Mapping[str, Any],
    module: str,
    input_dtypes: Sequence[Any] | None = None,
    input_values: Callable | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    opsets: Sequence[int] | None = (23,),
    testcases: Sequence[Testcase] = (),
    **options: Any,
) -> Example:
    """Registers an example and its coverage row (``examples.NAME``) with a testcase of its small config.

    ``opsets`` defaults to 23 only: the older forms of every op are tested by the plugins' own testcases
    (and by the classic examples' old-opset cases), and the examples are the slowest testcases. ``options`` go
    to the default testcase (``expect_ops``, ``check_model`` ...).
    """
    entry = Example(name, description, tuple(components), since, build, inputs, configs,
                    tuple(input_dtypes) if input_dtypes else None, input_values, rtol, atol)
    EXAMPLES[name] = entry
    small = configs["small"]
    default = Testcase(f"example_{name}", factory=lambda: build(small), inputs=inputs(small),
                       input_dtypes=input_dtypes, input_values=input_values, x64=False, rtol=rtol, atol=atol,
                       opsets=opsets, **options)
    coverage(f"examples.{name}", via=components, onnx=onnx, since=since,
             testcases=[default, *testcases], module=module)
    return entry


def load_all() -> dict[str, Example]:
    """Imports every example module (they register on import) and returns the examples by name."""
    from . import plugin_index

    for module in plugin_index.coverage_modules:
        importlib.import_module(module)
    return dict(sorted(EXAMPLES.items()))


def token_values(vocab: int) -> Callable:
    """``input_values`` for models whose inputs are all token ids below ``vocab``."""
    return lambda rng, shapes: [rng.integers(0, vocab, size=s) for s in shapes]
