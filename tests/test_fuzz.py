"""Property-based tests: random small programs exported, checked and run in ONNX Runtime, compared with JAX.

A program takes ``x`` and ``y`` (``y`` broadcasts against ``x``), combines them with a binary op, then
applies a few random steps: elementwise ops, reductions, reshape/transpose/slice/concatenate, gather
(``jnp.take``), scatter (``.at[].set/add``), ``where``, ``lax.cond`` and ``lax.scan``. Shapes mix static
dims (sizes 0 to 3) and symbolic ones ("a", "b"), run at two sizes each; dtypes are float32, int32 and
bool. Profiles: the default runs 200 examples derandomized (reproducible in CI);
``HYPOTHESIS_PROFILE=long`` runs thousands with fresh random seeds.

Failures found, fixed, each with a regression testcase in the kit (plugins-lax):
- ``jnp.take`` on bool: the fill-mode mask's Where has no bool kernel in ONNX Runtime
  (``gather_take_bool``).
- ``jnp.any`` over an empty axis gave True: ReduceMax of nothing is INT_MIN (``reduce_or_bool_empty``).
- ``lax.cond`` with a branch returning an operand computed outside: IdentityEliminationPass left the
  outer value as the If body's output, an invalid model (``cond_branch_returns_outer_value``; core's
  BodyOutputsPass).
Excluded combinations (none are failures of the exporter): max/min only over axes that are never
empty (JAX itself refuses an empty max); ``jnp.take``/``.at[]`` with in-range indices only, so on
never-empty axes (out-of-range fill/drop modes are the kit's gather/scatter testcases); symbolic dims
run at sizes >= 1 while static dims include 0.
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jax2onnx import to_onnx

settings.register_profile("default", max_examples=50, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=1000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SYMBOLS = dict(zip("ab", jax.export.symbolic_shape("a, b")))
# Each symbolic dim runs at these sizes (one set per run): size 1 and sizes that differ from the static ones.
RUN_SIZES = ({"a": 1, "b": 3}, {"a": 4, "b": 2})
DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
# float32: ONNX Runtime's and XLA's transcendental functions and summation orders differ in the last bits.
TOLERANCE = {"f": dict(rtol=1e-4, atol=1e-5), "i": dict(rtol=0, atol=0), "b": dict(rtol=0, atol=0)}


def _abstract(shape):
    return tuple(SYMBOLS[d] if isinstance(d, str) else d for d in shape)


def _static(d):
    return isinstance(d, int)


def _sizes_nonzero(d):
    """True if the dim is never 0 (symbolic dims run at sizes >= 1)."""
    return not _static(d) or d > 0


# ----- steps: each draws its parameters for the current abstract value and returns fn(x) -> array


def _unary(data, aval):
    kind = np.dtype(aval.dtype).kind
    if kind == "f":
        ops = {"sin": jnp.sin, "tanh": jnp.tanh, "neg": jnp.negative, "abs": jnp.abs, "floor": jnp.floor,
               "exp": lambda x: jnp.exp(jnp.clip(x, -5, 5)), "sqrt": lambda x: jnp.sqrt(jnp.abs(x)),
               "log1p": lambda x: jnp.log1p(jnp.abs(x)), "square": jnp.square, "sign": jnp.sign}
    elif kind == "i":
        ops = {"neg": jnp.negative, "abs": jnp.abs, "sign": jnp.sign, "square": jnp.square,
               "to_float": lambda x: x.astype(jnp.float32), "invert": jnp.invert}
    else:
        ops = {"not": jnp.logical_not, "to_int": lambda x: x.astype(jnp.int32),
               "to_float": lambda x: x.astype(jnp.float32)}
    return ops[data.draw(st.sampled_from(sorted(ops)), label="unary")]


def _binary_op(data, dtype):
    kind = np.dtype(dtype).kind
    if kind == "b":
        ops = {"and": jnp.logical_and, "or": jnp.logical_or, "xor": jnp.logical_xor, "eq": jnp.equal}
    else:
        ops = {"add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "max": jnp.maximum, "min": jnp.minimum,
               "lt": jnp.less, "ge": jnp.greater_equal, "eq": jnp.equal}
        if kind == "f":
            ops["div"] = lambda x, y: x / (jnp.abs(y) + 1.0)
            ops["pow"] = lambda x, y: jnp.abs(x) ** jnp.clip(y, -2, 2)
    return ops[data.draw(st.sampled_from(sorted(ops)), label="binary")]


def _with_itself(data, aval):
    """A binary op between ``x`` and a broadcasting reduction of it (keepdims)."""
    op = _binary_op(data, aval.dtype)
    if not aval.shape:
        return lambda x: op(x, x)
    axis = data.draw(st.integers(0, len(aval.shape) - 1), label="axis")
    reduce = jnp.any if np.dtype(aval.dtype).kind == "b" else jnp.sum
    return lambda x: op(x, reduce(x, axis=axis, keepdims=True).astype(x.dtype))


def _reduction(data, aval):
    if not aval.shape:
        return None
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(aval.shape) - 1), min_size=1), label="axes")))
    keepdims = data.draw(st.booleans(), label="keepdims")
    kind = np.dtype(aval.dtype).kind
    names = ["any", "all"] if kind == "b" else ["sum", "mean"] if kind == "f" else ["sum"]
    if all(_sizes_nonzero(aval.shape[a]) for a in axes) and kind != "b":
        names += ["max", "min"]  # no identity: only over axes that are never empty
    name = data.draw(st.sampled_from(names), label="reduce")
    return lambda x: getattr(jnp, name)(x, axis=axes, keepdims=keepdims)


def _reshape(data, aval):
    # Explicit sizes: JAX refuses -1 where a dim is 0.
    if len(aval.shape) < 2 or data.draw(st.booleans(), label="flatten"):
        return lambda x: x.reshape(math.prod(x.shape))
    return lambda x: x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])  # merge the last two axes


def _transpose(data, aval):
    perm = data.draw(st.permutations(range(len(aval.shape))), label="perm")
    return lambda x: jnp.transpose(x, perm)


def _slice(data, aval):
    if not aval.shape:
        return None
    axis = data.draw(st.integers(0, len(aval.shape) - 1), label="axis")
    start = data.draw(st.integers(0, 2), label="start")
    step = data.draw(st.integers(1, 2), label="step")
    index = (slice(None),) * axis + (slice(start, None, step),)
    return lambda x: x[index]


def _concatenate(data, aval):
    if not aval.shape:
        return None
    axis = data.draw(st.integers(0, len(aval.shape) - 1), label="axis")
    return lambda x: jnp.concatenate([x, x[::-1] if x.ndim else x], axis=axis)


def _take(data, aval):
    axes = [a for a, d in enumerate(aval.shape) if _sizes_nonzero(d)]
    if not axes:
        return None
    axis = data.draw(st.sampled_from(axes), label="axis")
    bound = aval.shape[axis] if _static(aval.shape[axis]) else 1  # symbolic dims are at least 1
    indices = np.array(data.draw(st.lists(st.integers(0, bound - 1), min_size=1, max_size=4), label="indices"),
                       np.int32)
    return lambda x: jnp.take(x, indices, axis=axis)


def _scatter(data, aval):
    if not aval.shape or not _sizes_nonzero(aval.shape[0]):
        return None
    bound = aval.shape[0] if _static(aval.shape[0]) else 1
    row = data.draw(st.integers(0, bound - 1), label="row")
    add = data.draw(st.booleans(), label="add") and np.dtype(aval.dtype).kind != "b"
    return lambda x: x.at[row].add(x[row]) if add else x.at[row].set(x[-1])


def _where(data, aval):
    kind = np.dtype(aval.dtype).kind
    if kind == "b":
        return lambda x: jnp.where(x, jnp.logical_not(x), x)
    return lambda x: jnp.where(x > 0, x, -x * 2)


def _cond(data, aval):
    kind = np.dtype(aval.dtype).kind
    if kind == "b":
        return lambda x: jax.lax.cond(jnp.any(x), jnp.logical_not, lambda v: v, x)
    return lambda x: jax.lax.cond(jnp.sum(x) > 0, lambda v: v * 2, lambda v: v - 1, x)


def _scan(data, aval):
    if not aval.shape or np.dtype(aval.dtype).kind == "b":
        return None

    def fn(x):
        def step(carry, row):
            return carry + row, carry * row

        total, rows = jax.lax.scan(step, jnp.zeros(x.shape[1:], x.dtype), x)
        return rows + total

    return fn


STEPS = {"unary": _unary, "with_itself": _with_itself, "reduction": _reduction, "reshape": _reshape,
         "transpose": _transpose, "slice": _slice, "concatenate": _concatenate, "take": _take,
         "scatter": _scatter, "where": _where, "cond": _cond, "scan": _scan}


# ----- programs

DIM = st.sampled_from([0, 1, 2, 3, "a", "b"])


@st.composite
def programs(draw, step_names=tuple(STEPS)):
    """(fn, x shape, y shape, dtype name, step names) for a random program."""
    data = draw(st.data())
    shape = tuple(draw(st.lists(DIM, max_size=3), label="x shape"))
    dtype = draw(st.sampled_from(sorted(DTYPES)), label="dtype")
    # y: x's shape with some dims 1, maybe fewer leading axes (numpy broadcasting).
    y_shape = tuple(1 if draw(st.booleans()) else d for d in shape)[draw(st.integers(0, len(shape))):]
    combine = _binary_op(data, dtype)
    fns, names = [], []
    aval = jax.eval_shape(combine, jax.ShapeDtypeStruct(_abstract(shape), dtype),
                          jax.ShapeDtypeStruct(_abstract(y_shape), dtype))
    for _ in range(draw(st.integers(1, 3), label="steps")):
        name = draw(st.sampled_from(step_names), label="step")
        fn = STEPS[name](data, aval)
        if fn is None:
            continue
        try:
            aval = jax.eval_shape(fn, aval)
        except Exception as exc:
            # JAX's own limit (found in a long run): a step on a dim such as 'a - 1' needs a comparison
            # that shape polymorphism cannot decide ('a - 1' >= 1). JAX refuses it, so no export to test.
            if type(exc).__name__ != "InconclusiveDimensionOperation":
                raise
            continue
        fns.append(fn)
        names.append(name)

    def program(x, y):
        out = combine(x, y)
        for fn in fns:
            out = fn(out)
        return out

    return program, shape, y_shape, dtype, names


def _values(rng, shape, dtype, sizes):
    concrete = [sizes[d] if isinstance(d, str) else d for d in shape]
    if dtype == "float32":
        return np.asarray(rng.standard_normal(concrete), np.float32)
    if dtype == "int32":
        return np.asarray(rng.integers(-5, 6, concrete), np.int32)
    return np.asarray(rng.random(concrete) < 0.5)


def check_program(program, shape, y_shape, dtype, names):
    model = to_onnx(program, [shape, y_shape], input_dtypes=[DTYPES[dtype]] * 2)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for sizes in RUN_SIZES:
        x, y = _values(rng, shape, dtype, sizes), _values(rng, y_shape, dtype, sizes)
        want = np.asarray(jax.jit(program)(x, y))
        (got,) = session.run(None, {"in_0": x, "in_1": y})
        where = f"steps {names}, x {shape} y {y_shape} {dtype}, sizes {sizes}"
        assert got.dtype == want.dtype and got.shape == want.shape, (where, got.dtype, got.shape, want.shape)
        np.testing.assert_allclose(got, want, err_msg=where, equal_nan=True, **TOLERANCE[want.dtype.kind])


# The default profile's 200 examples: 50 per property below.
@given(programs())
def test_random_programs(case):
    check_program(*case)


@given(programs(step_names=("unary", "with_itself", "reduction", "where")))
def test_elementwise_and_reduction_programs(case):
    check_program(*case)


@given(programs(step_names=("reshape", "transpose", "slice", "concatenate", "take", "scatter")))
def test_shape_programs(case):
    check_program(*case)


@given(programs(step_names=("cond", "scan", "unary", "slice", "take")))
def test_control_flow_programs(case):
    check_program(*case)
