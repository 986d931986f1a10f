"""Every JAX version shim lives here; the rest of jax2onnx imports JAX internals only from this module.

Supported: jax 0.10.x to 0.12.x with flax 0.12.x (see the distributions' metadata).
Rules are written against JAX 0.10's equation params; ``rule_params`` maps newer forms onto those.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.extend.core as jex_core
import numpy as np
from jax import export as jax_export

ClosedJaxpr = jex_core.ClosedJaxpr
Jaxpr = jex_core.Jaxpr
JaxprEqn = jex_core.JaxprEqn
Literal = jex_core.Literal
Var = jex_core.Var
DropVar = jex_core.DropVar

symbolic_shape = jax_export.symbolic_shape
SymbolicScope = jax_export.SymbolicScope


def enable_x64(enabled: bool):
    """Context manager switching 64-bit mode for the duration of a trace."""
    return jax.enable_x64(enabled)


_DIM_EXPR_TYPE = type(symbolic_shape("_probe")[0])


def is_symbolic_dim(d: Any) -> bool:
    return isinstance(d, _DIM_EXPR_TYPE)


def is_key_dtype(dtype: Any) -> bool:
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def key_data_type(dtype: Any, shape: tuple) -> tuple[Any, tuple]:
    """(dtype, shape) of the data of a key array: a threefry key<fry>[...] is uint32[..., 2]."""
    element = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct((), dtype))
    return element.dtype, (*shape, *element.shape)


def physical_array(value: Any) -> Any:
    """A key array as its data (keys have no numpy dtype); other arrays unchanged."""
    return jax.random.key_data(value) if isinstance(value, jax.Array) and is_key_dtype(value.dtype) else value


def on_physical_data(eqn: Any, physical_type: Callable[[Any, tuple], tuple[Any, tuple]]) -> ClosedJaxpr:
    """An equation on key or complex arrays as a jaxpr on their data, vmapped over its trailing axis.

    ``physical_type(dtype, shape)`` gives an array's (dtype, shape) as the graph holds it; arrays
    whose shape it extends are vmapped over their last axis, the rest are passed unbatched.
    """
    specs, axes = [], []
    for v in eqn.invars:
        dtype, shape = physical_type(v.aval.dtype, tuple(v.aval.shape))
        specs.append(jax.ShapeDtypeStruct(shape, dtype))
        axes.append(-1 if len(shape) > len(v.aval.shape) else None)
    moved = jax.vmap(lambda *xs: eqn.primitive.bind(*xs, **eqn.params), in_axes=axes, out_axes=-1)
    with jax.enable_x64(any(np.dtype(s.dtype).itemsize == 8 for s in specs)):
        return jax.make_jaxpr(moved)(*specs)


def has_lax_primitive(name: str) -> bool:
    """Whether this JAX binds ``name`` as a lax primitive (JAX 0.12 added ``log2``; older ones compute it)."""
    return hasattr(jax.lax, f"{name}_p")


# Call-like primitives of newer JAX that carry no body jaxpr, only an object that expands into ordinary
# primitives: JAX 0.12 binds jnp.searchsorted, jnp.nonzero, ... as one ``call_hi_primitive``.
EXPANDED_CALLS = frozenset({"call_hi_primitive"})


def expand_call(eqn: Any, double: bool) -> ClosedJaxpr:
    """The body of an ``EXPANDED_CALLS`` equation, traced from its own expansion at the equation's shapes
    (in the 64-bit mode of the export's trace)."""
    specs = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in eqn.invars]
    with enable_x64(double):
        return jax.make_jaxpr(lambda *xs: eqn.primitive.to_lojax(*xs, **eqn.params))(*specs)


def _scan_params(params: dict) -> dict:
    """JAX 0.11+ describes scan's operands by a tree of groups (``ft_in``: consts, carry, xs; ``ft_out``:
    carry, ys) where JAX 0.10 gave counts: rules keep reading ``num_consts`` and ``num_carry``."""
    if "ft_in" not in params:
        return params
    consts, carry, _ = params["ft_in"].unpack()
    rest = {k: v for k, v in params.items() if k not in ("ft_in", "ft_out")}
    return {**rest, "num_consts": len(consts), "num_carry": len(carry)}


# Primitive -> adapter from a newer JAX's params to the form rules are written against.
_PARAM_ADAPTERS: dict[str, Callable[[dict], dict]] = {"scan": _scan_params}


def rule_params(primitive: str, params: dict) -> dict:
    """An equation's params in the form rules are written against (JAX 0.10's)."""
    adapt = _PARAM_ADAPTERS.get(primitive)
    return adapt(dict(params)) if adapt else dict(params)


def _library_dirs() -> tuple[str, ...]:
    return _library_dirs_for(len(sys.modules))


@functools.lru_cache(maxsize=4)
def _library_dirs_for(_module_count: int) -> tuple[str, ...]:
    import os
    import sysconfig

    dirs = [sysconfig.get_paths()["stdlib"]]
    for name in ("jax", "jaxlib", "flax", "jax2onnx", "jax2onnx_lax", "jax2onnx_nnx"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs.append(os.path.dirname(module.__file__))
    return tuple(dirs)


def user_frame(tb: Any) -> str | None:
    """'file:line (function)' of the innermost user frame of a Python traceback, if any."""
    library = _library_dirs()
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(library):
            found = f"{code.co_filename}:{tb.tb_lineno} ({code.co_name})"
        tb = tb.tb_next
    return found


def source_line(eqn: Any) -> str | None:
    """'file:line (function)' of the innermost user frame that produced an equation, if any."""
    try:
        library = _library_dirs()
        for frame in eqn.source_info.traceback.frames:
            if not frame.file_name.startswith(library):
                return f"{frame.file_name}:{frame.line_num} ({frame.function_name})"
    except Exception:  # source info is best-effort: never fail an export on it
        pass
    return None


def sub_jaxprs(params: dict) -> list:
    """Closed or open jaxprs found in an equation's params (for inlining and scans)."""
    return list(jex_core.jaxprs_in_params(params))


_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*)|(.))")


def evaluate_dim(expr: Any, env: dict[str, Any], ops: DimOps) -> Any:
    """Evaluates a symbolic dimension expression, mapping symbols through ``env``.

    Uses the printed form of the expression (``2*B + 1``, ``floordiv(B, 2)``, ``mod(B, 3)``,
    ``max(B, 1)``, ``B^2``), which is what JAX documents for shape polymorphism.
    """
    tokens = [(m.group(1), m.group(2), m.group(3)) for m in _TOKEN.finditer(str(expr))]
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None, None)

    def take(ch=None):
        nonlocal pos
        tok = peek()
        if ch is not None and tok[2] != ch:
            raise ValueError(f"cannot parse dimension expression {expr!r}")
        pos += 1
        return tok

    def parse_sum():
        value = parse_product()
        while peek()[2] in ("+", "-"):
            sign = take()[2]
            rhs = parse_product()
            value = ops.add(value, rhs) if sign == "+" else ops.sub(value, rhs)
        return value

    def parse_product():
        value = parse_power()
        while peek()[2] == "*":
            take()
            value = ops.mul(value, parse_power())
        return value

    def parse_power():
        value = parse_atom()
        if peek()[2] == "^":
            take()
            exponent = int(take()[0])
            result = value
            for _ in range(exponent - 1):
                result = ops.mul(result, value)
            value = result
        return value

    def parse_atom():
        number, name, sym = take()
        if number is not None:
            return int(number)
        if sym == "-":
            return ops.mul(-1, parse_atom())
        if sym == "(":
            value = parse_sum()
            take(")")
            return value
        if name in ("floordiv", "mod", "max", "min", "non_negative"):
            take("(")
            args = [parse_sum()]
            while peek()[2] == ",":
                take()
                args.append(parse_sum())
            take(")")
            if name == "non_negative":
                return ops.max(args[0], 0)
            return getattr(ops, name)(*args)
        if name is not None:
            if name not in env:
                raise KeyError(name)
            return env[name]
        raise ValueError(f"cannot parse dimension expression {expr!r}")

    result = parse_sum()
    if pos != len(tokens):
        raise ValueError(f"cannot parse dimension expression {expr!r}")
    return result


class DimOps:
    """Integer arithmetic used by evaluate_dim; the graph builder supplies one emitting ONNX nodes."""

    add: Callable
    sub: Callable
    mul: Callable
    floordiv: Callable
    mod: Callable
    max: Callable
    min: Callable


def eval_equation(eqn: Any, args: Sequence[Any]) -> list[Any]:
    """Runs one jaxpr equation on concrete values, as ``jax.core.eval_jaxpr`` does for each."""
    bound = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = bound if isinstance(bound, tuple) else ((), bound)  # older JAX: (subfuns, params)
    outs = eqn.primitive.bind(*subfuns, *args, **params)
    return list(outs) if eqn.primitive.multiple_results else [outs]
