"""Named jax.nn calls lowered to native ONNX ops.

Each rule returns NotImplemented (inlining the call's JAX body) below the native op's opset,
for arguments the op cannot express, and for dtypes ONNX Runtime has no kernel for: its CPU
provider runs most activations in float32 only.
"""

from __future__ import annotations

import jax
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, coverage
from jax2onnx_lax._shared import NN_DOC, _positive

F32 = (np.float32,)
FLOATS = (np.float32, np.float64)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _dtype(x) -> np.dtype | None:
    return np.dtype(x.dtype.numpy()) if isinstance(x, ir.Value) and x.dtype is not None else None


def _scalar(v) -> float | None:
    """A Python number argument as an attribute value; None for arrays (graph values)."""
    return float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else None


def _axis(axis, rank: int) -> int | None:
    """One axis (int or 1-tuple), made non-negative; None for several axes."""
    if isinstance(axis, (tuple, list)):
        axis = axis[0] if len(axis) == 1 else None
    return None if not isinstance(axis, int) or not -rank <= axis < rank else axis % rank


def _axes(axis, rank: int) -> list[int] | None:
    """Sorted non-negative axes (None for all); None if any is not a valid int axis."""
    axes = range(rank) if axis is None else axis if isinstance(axis, (tuple, list)) else (axis,)
    if not all(isinstance(i, int) and -rank <= i < rank for i in axes):
        return None
    return sorted(i % rank for i in axes)


def _native(op_type: str, opset: int = 1, dtypes=F32):
    """A check_model asserting ``op_type`` is emitted exactly where the rule can use it."""

    def check(model) -> None:
        version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        dtype = ir.DataType(model.graph.input[0].type.tensor_type.elem_type).numpy()
        want = version >= opset and np.dtype(dtype) in [np.dtype(d) for d in dtypes]
        ops = [n.op_type for n in model.graph.node]
        if (op_type in ops) != want:
            raise AssertionError(f"expected {op_type} {'in' if want else 'not in'} the graph: {ops}")

    return check


def _alpha(v) -> dict | None:
    return None if _scalar(v) is None else {"alpha": _scalar(v)}


# jax.nn function -> (ONNX op, first opset, dtypes, attributes from the call's arguments or None).
ACTIVATIONS = {
    "relu": ("Relu", 13, FLOATS, lambda a: {}),
    "softplus": ("Softplus", 1, F32, lambda a: {}),
    "soft_sign": ("Softsign", 1, F32, lambda a: {}),
    "elu": ("Elu", 6, F32, lambda a: _alpha(a["alpha"])),
    "celu": ("Celu", 12, F32, lambda a: _alpha(a["alpha"])),
    "selu": ("Selu", 6, F32, lambda a: {"alpha": SELU_ALPHA, "gamma": SELU_SCALE}),
    "leaky_relu": ("LeakyRelu", 6, F32, lambda a: _alpha(a["negative_slope"])),
    "hard_sigmoid": ("HardSigmoid", 6, F32, lambda a: {"alpha": 1 / 6, "beta": 0.5}),
    "hard_swish": ("HardSwish", 14, F32, lambda a: {}),
    "hard_silu": ("HardSwish", 14, F32, lambda a: {}),
    "mish": ("Mish", 18, F32, lambda a: {}),
}
ACTIVATION_CASES = {
    "elu": lambda x: jax.nn.elu(x, alpha=0.5),
    "celu": lambda x: jax.nn.celu(x, alpha=1.5),
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.2),
}


def _activation(op_type: str, opset: int, dtypes, attributes):
    def rule(ctx: LoweringContext, x, **arguments):
        attrs = attributes(arguments)
        if ctx.opset < opset or _dtype(x) not in dtypes or attrs is None:
            return NotImplemented
        return getattr(ctx.op, op_type)(x, **attrs)

    return rule


def _activation_case(name: str, op_type: str, opset: int, dtypes) -> Testcase:
    fn = ACTIVATION_CASES.get(name, lambda x: getattr(jax.nn, name)(x))
    # Spread over the kinks and saturation points of the piecewise activations.
    return Testcase(f"nn_{name}", fn=fn, inputs=[("B", 12)], check_model=_native(op_type, opset, dtypes),
                    input_values=lambda rng, shapes: [4 * rng.standard_normal(shapes[0])])


for _name, (_op, _opset, _dtypes, _attrs) in ACTIVATIONS.items():
    call_lowering(f"jax.nn.{_name}", onnx=[_op], since="0.1.0", doc=NN_DOC.format(_name),
                  testcases=[_activation_case(_name, _op, _opset, _dtypes)])(_activation(_op, _opset, _dtypes, _attrs))


@call_lowering("jax.nn.gelu", onnx=["Gelu"], since="0.1.0", doc=NN_DOC.format("gelu"),
               testcases=[Testcase("nn_gelu_tanh", fn=lambda x: jax.nn.gelu(x), inputs=[("B", 8)],
                                   check_model=_native("Gelu", 20)),
                          Testcase("nn_gelu_exact", fn=lambda x: jax.nn.gelu(x, approximate=False), inputs=[("B", 8)],
                                   check_model=_native("Gelu", 20))])
def lower_gelu(ctx: LoweringContext, x, approximate=True):
    # float64 too: ORT has no exact kernel, and Gelu's function body holds float32 constants.
    if ctx.opset < 20 or _dtype(x) not in F32:
        return NotImplemented
    return ctx.op.Gelu(x, approximate="tanh" if approximate else "none")


@call_lowering("jax.nn.relu6", onnx=["Clip"], since="0.1.0", doc=NN_DOC.format("relu6"),
               testcases=[Testcase("nn_relu6", fn=lambda x: jax.nn.relu6(x), inputs=[("B", 12)], expect_ops=["Clip"],
                                   input_values=lambda rng, shapes: [5 * rng.standard_normal(shapes[0])])])
def lower_relu6(ctx: LoweringContext, x):
    if _dtype(x) not in FLOATS:
        return NotImplemented
    return ctx.op.Clip(x, ctx.const(0, _dtype(x)), ctx.const(6, _dtype(x)))


@call_lowering("jax.nn.hard_tanh", onnx=["Clip"], since="0.1.0", doc=NN_DOC.format("hard_tanh"),
               testcases=[Testcase("nn_hard_tanh", fn=lambda x: jax.nn.hard_tanh(x), inputs=[("B", 12)],
                                   expect_ops=["Clip"],
                                   input_values=lambda rng, shapes: [3 * rng.standard_normal(shapes[0])])])
def lower_hard_tanh(ctx: LoweringContext, x):
    if _dtype(x) not in FLOATS:
        return NotImplemented
    return ctx.op.Clip(x, ctx.const(-1, _dtype(x)), ctx.const(1, _dtype(x)))


@call_lowering("jax.nn.log_sigmoid", onnx=["Neg", "Softplus"], since="0.1.0", doc=NN_DOC.format("log_sigmoid"),
               testcases=[Testcase("nn_log_sigmoid", fn=lambda x: jax.nn.log_sigmoid(x), inputs=[("B", 12)],
                                   check_model=_native("Softplus"),
                                   input_values=lambda rng, shapes: [10 * rng.standard_normal(shapes[0])])])
def lower_log_sigmoid(ctx: LoweringContext, x):
    if _dtype(x) not in F32:
        return NotImplemented
    return ctx.op.Neg(ctx.op.Softplus(ctx.op.Neg(x)))


def _softmax_rule(op_type: str):
    def rule(ctx: LoweringContext, x, axis=-1, where=None):
        rank = len(x.shape) if isinstance(x, ir.Value) and x.shape is not None else 0
        axis = _axis(axis, rank)
        if where is not None or axis is None or _dtype(x) not in FLOATS:
            return NotImplemented
        return getattr(ctx.op, op_type)(x, axis=axis)

    return rule


for _name, _op in {"softmax": "Softmax", "log_softmax": "LogSoftmax"}.items():
    call_lowering(f"jax.nn.{_name}", onnx=[_op], since="0.1.0", doc=NN_DOC.format(_name), testcases=[
        Testcase(f"nn_{_name}", fn=lambda x, n=_name: getattr(jax.nn, n)(x), inputs=[("B", 7)], expect_ops=[_op]),
        Testcase(f"nn_{_name}_axis0", fn=lambda x, n=_name: getattr(jax.nn, n)(x, axis=0), inputs=[("B", 3, 4)],
                 expect_ops=[_op]),
        Testcase(f"nn_{_name}_axis_tuple", fn=lambda x, n=_name: getattr(jax.nn, n)(x, axis=(1, 2)),
                 inputs=[("B", 3, 4)], forbid_ops=("Identity", _op)),
        Testcase(f"nn_{_name}_where", fn=lambda x, n=_name: getattr(jax.nn, n)(x, where=x > -1.0),
                 inputs=[("B", 6)], forbid_ops=("Identity", _op)),
        Testcase(f"nn_{_name}_vmapped", fn=lambda x, n=_name: jax.vmap(lambda r: getattr(jax.nn, n)(r, axis=0), 1)(x),
                 inputs=[(3, "B")], forbid_ops=("Identity", _op)),
        Testcase(f"nn_{_name}_grad", fn=lambda x, n=_name: jax.grad(lambda r: (getattr(jax.nn, n)(r) * r).sum())(x),
                 inputs=[("B", 5)]),
    ])(_softmax_rule(_op))


@call_lowering("jax.nn.glu", onnx=["Split", "Sigmoid", "Mul"], since="0.1.0", doc=NN_DOC.format("glu"),
               testcases=[Testcase("nn_glu", fn=lambda x: jax.nn.glu(x), inputs=[("B", 8)],
                                   check_model=_native("Split", 13, FLOATS)),
                          Testcase("nn_glu_axis0", fn=lambda x: jax.nn.glu(x, axis=0), inputs=[(6, "B")],
                                   check_model=_native("Split", 13, FLOATS))])
def lower_glu(ctx: LoweringContext, x, axis=-1):
    axis = _axis(axis, len(x.shape)) if isinstance(x, ir.Value) and x.shape is not None else None
    if axis is None or _dtype(x) not in FLOATS:
        return NotImplemented
    gated, gate = ctx.op.Split(x, axis=axis, num_outputs=2, _outputs=2)
    return ctx.op.Mul(gated, ctx.op.Sigmoid(gate))


# ONNX Runtime has OneHot kernels for these outputs (with int64 indices and depth).
ONE_HOT_DTYPES = (np.float32, np.float16, np.int64)


@call_lowering("jax.nn.one_hot", onnx=["OneHot"], since="0.1.0", doc=NN_DOC.format("one_hot"), testcases=[
    Testcase("nn_one_hot", fn=lambda x: jax.nn.one_hot(x, 5), inputs=[("B", 3)], input_dtypes=[np.int32],
             check_model=_native("OneHot", 11, (np.int32,))),
    Testcase("nn_one_hot_axis0_f16", fn=lambda x: jax.nn.one_hot(x, 4, dtype=np.float16, axis=0), inputs=[("B",)],
             input_dtypes=[np.int32], check_model=_native("OneHot", 11, (np.int32,))),
    Testcase("nn_one_hot_bool", fn=lambda x: jax.nn.one_hot(x, 6, dtype=bool), inputs=[("B", 2)],
             input_dtypes=[np.int32], forbid_ops=("Identity", "OneHot")),
])
def lower_one_hot(ctx: LoweringContext, x, num_classes, dtype=None, axis=-1,
                  out_sharding=None):  # out_sharding: JAX 0.11+
    out_dtype, x_dtype = ctx.out_avals[0].dtype, _dtype(x)
    if (ctx.opset < 11 or x_dtype is None or x_dtype.kind not in "iu" or not isinstance(axis, int)
            or out_dtype not in [np.dtype(d) for d in ONE_HOT_DTYPES]):
        return NotImplemented
    depth = ctx.const(np.array(num_classes, np.int64))
    indices = ctx.cast(x, np.int64)
    if x_dtype.kind == "i":
        # OneHot counts negative indices from the end; jax.nn.one_hot encodes them as all zeros.
        indices = ctx.op.Where(ctx.op.Less(indices, ctx.const(np.array(0, np.int64))), depth, indices)
    return ctx.op.OneHot(indices, depth, ctx.const(np.array([0, 1], out_dtype)), axis=axis)


def _logsumexp_case(name: str, fn, shape=("B", 5)) -> Testcase:
    return Testcase(f"nn_{name}", fn=fn, inputs=[shape], check_model=_native("ReduceLogSumExp", 18, FLOATS))


@call_lowering("jax.scipy.special.logsumexp", onnx=["ReduceLogSumExp"], since="0.1.0",
               doc="https://docs.jax.dev/en/latest/_autosummary/jax.scipy.special.logsumexp.html", testcases=[
                   _logsumexp_case("scipy_logsumexp", lambda x: jax.scipy.special.logsumexp(x, axis=1)),
                   _logsumexp_case("scipy_logsumexp_all", lambda x: jax.scipy.special.logsumexp(x)),
                   Testcase("nn_scipy_logsumexp_b", fn=lambda x: jax.scipy.special.logsumexp(x, axis=1, b=x > 0),
                            inputs=[("B", 5)], forbid_ops=("Identity", "ReduceLogSumExp"))])
@call_lowering("jax.nn.logsumexp", onnx=["ReduceLogSumExp"], since="0.1.0", doc=NN_DOC.format("logsumexp"),
               testcases=[_logsumexp_case("logsumexp", lambda x: jax.nn.logsumexp(x, axis=-1)),
                          _logsumexp_case("logsumexp_keepdims",
                                          lambda x: jax.nn.logsumexp(100 * x, axis=(0, 2), keepdims=True),
                                          ("B", 3, 4))])
def lower_logsumexp(ctx: LoweringContext, a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    if ctx.opset < 18 or b is not None or return_sign or where is not None or _dtype(a) not in FLOATS:
        return NotImplemented
    axes = _axes(axis, len(a.shape))
    if axes is None:
        return NotImplemented
    return ctx.op.ReduceLogSumExp(a, ctx.const(np.array(axes, np.int64)), keepdims=int(keepdims))


@call_lowering("jax.nn.standardize", onnx=["LayerNormalization"], since="0.1.0", doc=NN_DOC.format("standardize"),
               testcases=[Testcase("nn_standardize", fn=lambda x: jax.nn.standardize(x), inputs=[("B", 6)],
                                   check_model=_native("LayerNormalization", 17, FLOATS)),
                          Testcase("nn_standardize_trailing_axes",
                                   fn=lambda x: jax.nn.standardize(x + 3, axis=(1, 2), epsilon=1e-3),
                                   inputs=[("B", 3, 4)], check_model=_native("LayerNormalization", 17, FLOATS)),
                          Testcase("nn_standardize_axis0", fn=lambda x: jax.nn.standardize(x, axis=0),
                                   inputs=[("B", 4)], forbid_ops=("Identity", "LayerNormalization"))])
def lower_standardize(ctx: LoweringContext, x, axis=-1, mean=None, variance=None, epsilon=1e-5, where=None,
                      algorithm="fast"):
    if ctx.opset < 17 or _dtype(x) not in FLOATS or _scalar(epsilon) is None or (mean, variance, where) != (None,) * 3:
        return NotImplemented
    rank = len(x.shape)
    axes = _axes(axis, rank)
    # LayerNormalization normalizes every axis from `axis` on: only trailing axes fit.
    if not axes or axes != list(range(rank - len(axes), rank)):
        return NotImplemented
    dtype = np.dtype(x.dtype.numpy())
    one = ctx.const(np.ones(1, dtype))
    return ctx.op.LayerNormalization(x, one, axis=axes[0], epsilon=_scalar(epsilon),
                                     stash_type=ir.DataType.from_numpy(dtype))


# jax.nn functions without an ONNX op of their own -> (lax primitives, ONNX ops, testcase fn, input values).
NN_ROWS = {
    "sigmoid": (["logistic"], ["Sigmoid"], lambda x: jax.nn.sigmoid(x), None),
    "silu": (["logistic", "mul"], ["Sigmoid", "Mul"], lambda x: jax.nn.silu(x), None),
    "swish": (["logistic", "mul"], ["Sigmoid", "Mul"], lambda x: jax.nn.swish(x), None),
    "tanh": (["tanh"], ["Tanh"], lambda x: jax.nn.tanh(x), None),
    "squareplus": (["square", "add", "sqrt", "div"], ["Mul", "Add", "Sqrt", "Div"],
                   lambda x: jax.nn.squareplus(x, b=2.0), None),
    "sparse_plus": (["le", "ge", "select_n", "integer_pow"], ["LessOrEqual", "GreaterOrEqual", "Where", "Mul", "Div"],
                    lambda x: jax.nn.sparse_plus(x), None),
    "sparse_sigmoid": (["max", "min", "mul", "add"], ["Max", "Min", "Mul", "Add"],
                       lambda x: jax.nn.sparse_sigmoid(x), None),
    "log1mexp": (["expm1", "log1p", "lt", "select_n"], ["Exp", "Log", "Less", "Where"],
                 lambda x: jax.nn.log1mexp(x), _positive),
    "logmeanexp": (["reduce_max", "exp", "reduce_sum", "log"],
                   ["ReduceMax", "IsInf", "Where", "Exp", "ReduceSum", "Log"],
                   lambda x: jax.nn.logmeanexp(x, axis=1), None),
}

for _name, (_via, _onnx, _fn, _values) in NN_ROWS.items():
    coverage(f"jax.nn.{_name}", via=_via, onnx=_onnx, since="0.1.0", doc=NN_DOC.format(_name), module=__name__,
             testcases=[Testcase(f"nn_{_name}", fn=_fn, inputs=[("B", 6)], input_values=_values)])


def _attention_case(name: str, fn, shapes, dtypes=None, native_op=True, **kw) -> Testcase:
    # JAX runs the attention softmax in float32 even in float64 mode: float32 tolerances for both.
    check = _native("Attention", 23) if native_op else None
    return Testcase(f"nn_{name}", fn=fn, inputs=shapes, input_dtypes=dtypes, rtol=1e-5, atol=1e-6, check_model=check,
                    forbid_ops=("Identity",) if native_op else ("Identity", "Attention"), **kw)


def _dpa(**kw):
    return lambda q, k, v, *extra: jax.nn.dot_product_attention(q, k, v, *extra, **kw)


@call_lowering("jax.nn.dot_product_attention", onnx=["Reshape", "Trilu", "And", "Where", "Attention"], since="0.1.0",
               doc=NN_DOC.format("dot_product_attention"), testcases=[
                   _attention_case("dpa", _dpa(), [("B", 5, 4, 8)] * 3),
                   _attention_case("dpa_causal_scale", _dpa(is_causal=True, scale=0.2),
                                   [(2, "T", 4, 8), (2, 6, 4, 8), (2, 6, 4, 8)]),
                   _attention_case("dpa_gqa", _dpa(), [("B", 5, 4, 8), ("B", 7, 2, 8), ("B", 7, 2, 8)]),
                   _attention_case("dpa_bias", _dpa(), [("B", 5, 2, 8)] * 3 + [(1, 2, 5, 5)]),
                   _attention_case("dpa_bias_mask", _dpa(), [("B", 4, 2, 8)] * 3 + [(1, 2, 4, 4), ("B", 1, 4, 4)],
                                   [np.float32] * 4 + [np.bool_]),
                   _attention_case("dpa_mask_causal", lambda q, k, v, m: jax.nn.dot_product_attention(
                       q, k, v, mask=m, is_causal=True), [("B", 4, 2, 8)] + [("B", 6, 2, 8)] * 2 + [("B", 1, 4, 6)],
                                   [np.float32] * 3 + [np.bool_]),
                   _attention_case("dpa_mask_causal_static", lambda q, k, v, m: jax.nn.dot_product_attention(
                       q, k, v, mask=m, is_causal=True), [(2, 5, 2, 8), (2, 3, 2, 8), (2, 3, 2, 8), (2, 1, 5, 3)],
                                   [np.float32] * 3 + [np.bool_]),
                   _attention_case("dpa_unbatched", _dpa(), [("T", 2, 8)] * 3, native_op=False),
                   _attention_case("dpa_kv_lengths", lambda q, k, v, n: jax.nn.dot_product_attention(
                       q, k, v, key_value_seq_lengths=n), [(2, 3, 2, 8)] * 3 + [(2,)], [np.float32] * 3 + [np.int32],
                                   native_op=False, input_values=lambda rng, shapes: [
                                       *(rng.standard_normal(s) for s in shapes[:3]), np.array([1, 3])]),
               ])
def lower_dot_product_attention(ctx: LoweringContext, query, key, value, bias=None, mask=None, *, scale=None,
                                is_causal=False,
                                query_seq_lengths=None, key_value_seq_lengths=None, local_window_size=None,
                                implementation=None, return_residual=False):
    tensors = [t for t in (query, key, value, bias) if t is not None]
    # float32 only: in float64 mode JAX still runs this softmax in float32, which Attention cannot mirror.
    if (ctx.opset < 23 or any(_dtype(t) not in F32 for t in tensors) or any(len(t.shape) != 4 for t in tensors[:3])
            or (scale is not None and _scalar(scale) is None) or return_residual or implementation not in (None, "xla")
            or (query_seq_lengths, key_value_seq_lengths, local_window_size) != (None,) * 3
            or (mask is not None and _dtype(mask) != np.bool_)):
        return NotImplemented
    heads, kv_heads, head_dim = query.shape[2], key.shape[2], value.shape[3]
    if not all(isinstance(d, int) for d in (heads, kv_heads, head_dim)):
        return NotImplemented
    # BTNH -> BT(NH): Attention's 3-D layout needs a free Reshape where 4-D would need Transposes.
    flat = ctx.const(np.array([0, 0, -1], np.int64))
    q, k, v = (ctx.op.Reshape(t, flat) for t in (query, key, value))
    attn_mask = bias
    if mask is not None and is_causal:
        # Fold the triangle into the mask: Attention's is_causal masks with -inf, see below.
        rows, cols = query.shape[1], key.shape[1]
        if isinstance(rows, int) and isinstance(cols, int):
            causal = ctx.const(np.tri(rows, cols, dtype=bool))
        else:
            rows_cols = ctx.op.Concat(ctx.op.Shape(query, start=1, end=2), ctx.op.Shape(key, start=1, end=2), axis=0)
            causal = ctx.op.Trilu(ctx.op.Expand(ctx.const(np.array(True)), rows_cols), upper=0)
        mask = ctx.op.And(mask, causal)
        is_causal = False
    if mask is not None:
        # JAX fills masked logits with a finite negative, so a fully masked row spreads over all keys.
        fill = ctx.const(np.array(-0.7 * np.finfo(np.float32).max, np.float32))
        attn_mask = ctx.op.Where(mask, bias if bias is not None else ctx.const(np.array(0, np.float32)), fill)
    out = ctx.op.Attention(q, k, v, attn_mask, q_num_heads=heads, kv_num_heads=kv_heads, is_causal=int(is_causal),
                           scale=_scalar(scale) if scale is not None else None)
    return ctx.op.Reshape(out, ctx.const(np.array([0, 0, heads, head_dim], np.int64)))
