"""jax.numpy: named calls where one native ONNX op beats the primitives' graph, coverage rows for the rest.

Most jax.numpy functions lower through lax primitives with nothing lost; they are coverage rows
(component, the primitives they go through, testcases). tril/triu become one Trilu instead of
an iota mask and a Where. einsum stays a row: dot_general already gives MatMul, which runtimes
run faster than Einsum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, coverage
from jax2onnx_lax._shared import JNP_DOC, _positive


def _dtype(x) -> np.dtype | None:
    return np.dtype(x.dtype.numpy()) if isinstance(x, ir.Value) and x.dtype is not None else None


# ONNX Runtime's Trilu kernels.
TRILU_DTYPES = [np.dtype(d) for d in (np.float32, np.float64, np.int32, np.int64, np.bool_)]


def _trilu(upper: bool):
    def rule(ctx: LoweringContext, m, k=0):
        if ctx.opset < 14 or _dtype(m) not in TRILU_DTYPES or len(m.shape) < 2 or not isinstance(k, int):
            return NotImplemented
        return ctx.op.Trilu(m, ctx.const(np.array(k, np.int64)), upper=int(upper))

    return rule


for _name, _upper in {"tril": False, "triu": True}.items():
    call_lowering(f"jax.numpy.{_name}", onnx=["Trilu"], since="0.1.0", doc=JNP_DOC.format(_name), testcases=[
        Testcase(f"jnp_{_name}", fn=lambda x, n=_name: getattr(jnp, n)(x), inputs=[("B", 4)], expect_ops=["Trilu"]),
        Testcase(f"jnp_{_name}_k", fn=lambda x, n=_name: getattr(jnp, n)(x, k=-1 if n == "tril" else 2),
                 inputs=[("B", 3, 5)], input_dtypes=[np.int32], expect_ops=["Trilu"]),
        Testcase(f"jnp_{_name}_bool", fn=lambda x, n=_name: getattr(jnp, n)(x > 0), inputs=[(4, "B")],
                 expect_ops=["Greater", "Trilu"]),
        Testcase(f"jnp_{_name}_vmapped", fn=lambda x, n=_name: jax.vmap(getattr(jnp, n), 2)(x), inputs=[(3, 4, "B")],
                 forbid_ops=("Identity", "Trilu")),
    ])(_trilu(_upper))


# jnp.unique/argwhere/nonzero with a size place their results with a scatter-add.
SCATTER_ADD = dict(min_opset=16, min_opset_reason="ScatterElements reduction='add' places the results")


def _case(name: str, fn, inputs, **options) -> Testcase:
    return Testcase(f"jnp_{name}", fn=fn, inputs=inputs, **options)


def _sorted_rows(rng, shapes):
    return [np.sort(rng.standard_normal(shapes[0])), rng.standard_normal(shapes[1])]


def _rows_and_indices(rng, shapes):
    # Negative indices count from the end, as in NumPy.
    return [rng.standard_normal(shapes[0]), rng.integers(-shapes[0][0], shapes[0][0], shapes[1])]


def _with_zeros(rng, shapes):
    # Zeros and negatives make log(x) / x produce -inf, inf and nan.
    return [np.where(rng.random(s) < 0.3, 0.0, rng.standard_normal(s)) for s in shapes]


def _int_values(rng, shapes):
    return [rng.integers(0, 4, size=s) for s in shapes]


# jax.numpy function -> (lax primitives it lowers through, ONNX ops, testcases).
ROWS = {
    "add": (["add"], ["Add"], [
        _case("add", lambda x, y: jnp.add(x, y), [("B", 4), ("B", 4)], expect_ops=["Add"]),
        _case("add_broadcast", lambda x, y: jnp.add(x, y), [("B", 4), (4,)]),
    ]),
    "concat": (["concatenate"], ["Concat"], [
        _case("concat", lambda x, y: jnp.concat([x, y], axis=0), [("B", 4), (3, 4)], expect_ops=["Concat"]),
    ]),
    "concatenate": (["concatenate"], ["Concat"], [
        _case("concatenate", lambda x, y: jnp.concatenate([x, y, x], axis=1), [("B", 4), ("B", 2)]),
    ]),
    "einsum": (["dot_general", "transpose"], ["MatMul", "Gemm", "Einsum", "Transpose"], [
        _case("einsum_matmul", lambda x, y: jnp.einsum("ij,jk->ik", x, y), [("B", 4), (4, 3)]),
        _case("einsum_batch", lambda x, y: jnp.einsum("bij,bjk->bik", x, y), [("B", 2, 4), ("B", 4, 3)]),
        _case("einsum_attention", lambda q, k: jnp.einsum("BTNH,BSNH->BNTS", q, k), [("B", 5, 2, 4), ("B", 3, 2, 4)]),
        _case("einsum_ellipsis", lambda x, y: jnp.einsum("...ij,jk->...ik", x, y), [("B", 3, 2, 4), (4, 5)]),
        _case("einsum_implicit", lambda x, y: jnp.einsum("ij,kj", x, y), [("B", 4), (3, 4)]),
        _case("einsum_three_operands", lambda x, y, z: jnp.einsum("ij,jk,kl->il", x, y, z), [("B", 4), (4, 3), (3, 2)]),
        _case("einsum_outer_int", lambda x, y: jnp.einsum("i,j->ij", x, y), [("B",), (3,)],
              input_dtypes=[np.int32, np.int32]),
        _case("einsum_vmapped", lambda x, y: jax.vmap(lambda a, b: jnp.einsum("ij,jk->ik", a, b), 2)(x, y),
              [(2, 4, "B"), (4, 3, "B")]),
    ]),
    "matmul": (["dot_general"], ["MatMul", "Einsum"], [
        _case("matmul", lambda x, y: jnp.matmul(x, y), [("B", 4), (4, 3)]),
        _case("matmul_broadcast", lambda x, y: jnp.matmul(x, y), [("B", 1, 2, 4), (3, 4, 5)]),
        _case("matmul_operator", lambda x, y: x @ y, [("B", 3, 4), ("B", 4, 2)]),
    ]),
    "dot": (["dot_general"], ["MatMul"], [
        _case("dot", lambda x, y: jnp.dot(x, y), [("B", 4), (4,)]),
    ]),
    "outer": (["broadcast_in_dim", "mul"], ["Mul"], [
        _case("outer", lambda x, y: jnp.outer(x, y), [("B",), (3,)]),
    ]),
    "reshape": (["reshape"], ["Reshape"], [
        _case("reshape", lambda x: jnp.reshape(x, (-1, 2)), [("B", 4)]),
        _case("reshape_method", lambda x: x.reshape(x.shape[0], 2, 3), [("B", 6)]),
    ]),
    "squeeze": (["squeeze"], ["Squeeze"], [
        _case("squeeze", lambda x: jnp.squeeze(x, axis=1), [("B", 1, 4)]),
    ]),
    "expand_dims": (["broadcast_in_dim"], ["Unsqueeze"], [
        _case("expand_dims", lambda x: jnp.expand_dims(x, (0, 2)), [("B", 4)]),
    ]),
    "tile": (["tile"], ["Tile"], [
        _case("tile", lambda x: jnp.tile(x, (2, 3)), [("B", 4)]),
    ]),
    "repeat": (["broadcast_in_dim", "reshape"], ["Expand", "Reshape"], [
        _case("repeat", lambda x: jnp.repeat(x, 2, axis=1), [("B", 3)]),
    ]),
    "transpose": (["transpose"], ["Transpose"], [
        _case("transpose", lambda x: jnp.transpose(x, (1, 0, 2)), [("B", 3, 4)], expect_ops=["Transpose"]),
        _case("transpose_T", lambda x: x.T, [("B", 3)], expect_ops=["Transpose"]),
    ]),
    "stack": (["stack"], ["Unsqueeze", "Concat"], [
        _case("stack", lambda x, y: jnp.stack([x, y], axis=1), [("B", 4), ("B", 4)]),
    ]),
    "split": (["split"], ["Split"], [
        _case("split", lambda x: jnp.split(x, 2, axis=1), [("B", 4)]),
        _case("split_sections", lambda x: jnp.split(x, [1, 3], axis=1), [("B", 5)]),
    ]),
    "pad": (["pad"], ["Pad"], [
        _case("pad", lambda x: jnp.pad(x, ((0, 0), (1, 2))), [("B", 4)]),
        _case("pad_edge", lambda x: jnp.pad(x, ((1, 1), (2, 0)), mode="edge"), [("B", 4)]),
    ]),
    "roll": (["slice", "concatenate"], ["Slice", "Concat"], [
        _case("roll", lambda x: jnp.roll(x, 1, axis=1), [("B", 4)]),
    ]),
    "flip": (["rev"], ["Slice"], [
        _case("flip", lambda x: jnp.flip(x, axis=1), [("B", 4)]),
    ]),
    "where": (["gt", "select_n"], ["Greater", "Where"], [
        _case("where", lambda x, y: jnp.where(x > 0, x, y), [("B", 4), ("B", 4)]),
        _case("where_scalar", lambda x: jnp.where(x > 0, x, 0.0), [("B", 4)]),
    ]),
    "clip": (["max", "min"], ["Max", "Min"], [
        _case("clip", lambda x: jnp.clip(x, -0.5, 0.5), [("B", 4)]),
    ]),
    "maximum": (["max"], ["Max"], [
        _case("maximum", lambda x, y: jnp.maximum(x, y), [("B", 4), (4,)]),
    ]),
    "exp": (["exp"], ["Exp"], [_case("exp", lambda x: jnp.exp(x), [("B", 4)], expect_ops=["Exp"])]),
    "log": (["log"], ["Log"], [_case("log", lambda x: jnp.log(x), [("B", 4)], input_values=_positive)]),
    "take": (["gather", "lt", "add", "select_n"], ["Gather", "Less", "Where"], [
        _case("take", lambda x: jnp.take(x, jnp.array([2, 0, 3]), axis=1), [("B", 4)]),
        _case("take_indices", lambda x, i: jnp.take(x, i, axis=0), [(5, 3), ("B",)],
              input_dtypes=[np.float32, np.int32], input_values=_rows_and_indices),
    ]),
    "take_along_axis": (["gather"], ["GatherElements"], [
        _case("take_along_axis", lambda x: jnp.take_along_axis(x, jnp.argsort(x, axis=1), axis=1), [("B", 5)]),
    ]),
    "cumsum": (["cumsum"], ["CumSum"], [
        _case("cumsum", lambda x: jnp.cumsum(x, axis=1), [("B", 6)], expect_ops=["CumSum"]),
        _case("cumsum_flat_int", lambda x: jnp.cumsum(x), [("B", 3)], input_dtypes=[np.int32]),
    ]),
    "sort": (["sort"], ["TopK", "IsNaN", "Where"], [
        _case("sort", lambda x: jnp.sort(x, axis=-1), [("B", 5)]),
        _case("sort_axis0", lambda x: jnp.sort(x, axis=0), [("B", 3)]),
    ]),
    "argsort": (["iota", "sort"], ["TopK", "GatherElements"], [
        _case("argsort", lambda x: jnp.argsort(x, axis=-1), [("B", 5)]),
    ]),
    "argmax": (["argmax"], ["ArgMax", "IsNaN", "Where"], [
        _case("argmax", lambda x: jnp.argmax(x, axis=1), [("B", 5)]),
    ]),
    "searchsorted": (["scan", "gather", "lt", "select_n"], ["Loop", "Gather", "Less", "Where"], [
        _case("searchsorted", lambda a, v: jnp.searchsorted(a, v), [(6,), ("B", 3)], input_values=_sorted_rows),
        _case("searchsorted_compare_all", lambda a, v: jnp.searchsorted(a, v, side="right", method="compare_all"),
              [(6,), ("B", 3)], input_values=_sorted_rows),
    ]),
    "unique": (["sort", "ne", "cumsum", "scatter", "gather"], ["TopK", "CumSum", "ScatterND", "Gather"], [
        _case("unique_size", lambda x: jnp.unique(x, size=6, fill_value=0), [(8,)], input_dtypes=[np.int32],
              input_values=_int_values, **SCATTER_ADD),
    ]),
    "linspace": (["iota", "convert_element_type", "mul", "add"], ["Div", "Sub", "Mul", "Add"], [
        _case("linspace", lambda x: x + jnp.linspace(0.0, 1.0, 4), [("B", 4)]),
    ]),
    "arange": (["iota"], ["Range", "Cast"], [
        _case("arange", lambda x: x + jnp.arange(4), [("B", 4)]),
        _case("arange_symbolic", lambda x: jnp.arange(x.shape[0]), [("B", 3)]),
        _case("arange_symbolic_float", lambda x: x[:, 0] * jnp.arange(x.shape[0]), [("B", 3)]),
    ]),
    "sum": (["reduce_sum"], ["ReduceSum"], [_case("sum", lambda x: jnp.sum(x, axis=1), [("B", 4)])]),
    "prod": (["reduce_prod"], ["ReduceProd"], [_case("prod", lambda x: jnp.prod(x, axis=1), [("B", 4)])]),
    "max": (["reduce_max"], ["ReduceMax"], [_case("max", lambda x: jnp.max(x, axis=1), [("B", 4)])]),
    "min": (["reduce_min"], ["ReduceMin"], [_case("min", lambda x: jnp.min(x), [("B", 4)])]),
    "mean": (["reduce_sum", "div"], ["ReduceSum", "Div"], [
        _case("mean", lambda x: jnp.mean(x, axis=1), [("B", 4)]),
        _case("mean_symbolic_axis", lambda x: jnp.mean(x, axis=0), [("B", 4)]),
    ]),
    "var": (["reduce_sum", "sub", "square", "div"], ["ReduceSum", "Sub", "Mul", "Div"], [
        _case("var", lambda x: jnp.var(x, axis=1), [("B", 4)]),
    ]),
    "std": (["reduce_sum", "sub", "square", "div", "sqrt"], ["ReduceSum", "Sub", "Mul", "Div", "Sqrt"], [
        _case("std", lambda x: jnp.std(x, axis=-1, ddof=1), [("B", 4)]),
    ]),
    "linalg.norm": (["mul", "reduce_sum", "sqrt"], ["Mul", "ReduceSum", "Sqrt"], [
        _case("linalg_norm", lambda x: jnp.linalg.norm(x, axis=-1), [("B", 4)]),
        _case("linalg_norm_frobenius", lambda x: jnp.linalg.norm(x), [("B", 4)]),
    ]),
    "argmin": (["argmin"], ["ArgMin", "IsNaN", "Where"], [
        _case("argmin", lambda x: jnp.argmin(x, axis=0), [("B", 5)]),
    ]),
    "any": (["gt", "reduce_or"], ["Greater", "ReduceMax"], [
        _case("any", lambda x: jnp.any(x > 1, axis=1), [("B", 4)]),
    ]),
    "all": (["gt", "reduce_and"], ["Greater", "ReduceMin"], [
        _case("all", lambda x: jnp.all(x > -1, axis=1), [("B", 4)]),
    ]),
    "count_nonzero": (["gt", "ne", "reduce_sum"], ["Greater", "Not", "ReduceSum"], [
        _case("count_nonzero", lambda x: jnp.count_nonzero(x > 0, axis=1), [("B", 4)]),
    ]),
    "average": (["reduce_sum", "div"], ["ReduceSum", "Div"], [
        _case("average_weighted", lambda x, w: jnp.average(x, axis=1, weights=w), [("B", 4), (4,)],
              input_values=_positive),
    ]),
    "median": (["sort", "gather"], ["TopK", "Gather", "Floor", "Ceil"], [
        _case("median", lambda x: jnp.median(x, axis=1), [("B", 5)]),
    ]),
    "abs": (["abs"], ["Abs"], [_case("abs", lambda x: jnp.abs(x), [("B", 4)], expect_ops=["Abs"])]),
    "sqrt": (["sqrt"], ["Sqrt"], [_case("sqrt", lambda x: jnp.sqrt(x), [("B", 4)], input_values=_positive)]),
    "square": (["square"], ["Mul"], [_case("square", lambda x: jnp.square(x), [("B", 4)])]),
    "power": (["integer_pow", "pow"], ["Mul", "Pow"], [
        _case("power_int", lambda x: jnp.power(x, 3), [("B", 4)]),
        _case("power_float", lambda x, y: jnp.power(x, y), [("B", 4), ("B", 4)], input_values=_positive),
    ]),
    "sign": (["sign"], ["Sign"], [_case("sign", lambda x: jnp.sign(x), [("B", 4)])]),
    "floor": (["floor"], ["Floor"], [_case("floor", lambda x: jnp.floor(3 * x), [("B", 4)])]),
    "round": (["round"], ["Round"], [_case("round", lambda x: jnp.round(3 * x), [("B", 4)])]),
    "sin": (["sin"], ["Sin"], [_case("sin", lambda x: jnp.sin(x), [("B", 4)])]),
    "logaddexp": (["max", "sub", "abs", "exp", "log1p", "add"], ["Max", "Sub", "Abs", "Exp", "Log", "Add"], [
        _case("logaddexp", lambda x, y: jnp.logaddexp(x, y), [("B", 4), ("B", 4)]),
    ]),
    "mod": (["rem", "select_n"], ["Mod", "Where"], [_case("mod", lambda x: jnp.mod(x, 0.7), [("B", 4)])]),
    "floor_divide": (["div", "rem", "select_n"], ["Div", "Mod", "Where"], [
        _case("floor_divide_int", lambda x, y: jnp.floor_divide(x, y), [("B", 4), ("B", 4)],
              input_dtypes=[np.int32, np.int32],
              input_values=lambda rng, shapes: [rng.integers(-9, 9, shapes[0]), rng.choice([-3, -2, 2, 5], shapes[1])]),
    ]),
    "logical_and": (["gt", "lt", "and"], ["Greater", "Less", "And"], [
        _case("logical_and", lambda x: jnp.logical_and(x > 0, x < 1), [("B", 4)]),
    ]),
    "isclose": (["abs", "sub", "le", "and", "or"], ["Abs", "Sub", "LessOrEqual", "IsInf", "And", "Or"], [
        _case("isclose", lambda x, y: jnp.isclose(x, jnp.where(y > 0, x, y)), [("B", 4), ("B", 4)]),
    ]),
    "isnan": (["ne"], ["Equal", "Not"], [_case("isnan", lambda x: jnp.isnan(jnp.log(x)), [("B", 4)])]),
    "nan_to_num": (["ne", "eq", "select_n"], ["Where"], [
        _case("nan_to_num", lambda x: jnp.nan_to_num(jnp.log(x) / x), [("B", 4)], input_values=_with_zeros),
    ]),
    "zeros_like": (["broadcast_in_dim"], ["Expand"], [
        _case("zeros_like", lambda x: jnp.zeros_like(x), [("B", 4)]),
    ]),
    "full_like": (["broadcast_in_dim"], ["Expand"], [
        _case("full_like", lambda x: jnp.full_like(x, 2.5, dtype=np.int32), [("B", 4)]),
    ]),
    "eye": (["iota", "eq"], ["Equal", "Cast"], [_case("eye", lambda x: x @ jnp.eye(4, k=1), [("B", 4)])]),
    "broadcast_to": (["broadcast_in_dim"], ["Expand"], [
        _case("broadcast_to", lambda x: jnp.broadcast_to(x[:, None, :], (x.shape[0], 3, 4)), [("B", 4)]),
    ]),
    "meshgrid": (["iota", "broadcast_in_dim"], ["Expand"], [
        _case("meshgrid", lambda x: jnp.meshgrid(x, jnp.arange(3.0)), [("B",)]),
    ]),
    "ravel": (["reshape"], ["Reshape"], [_case("ravel", lambda x: jnp.ravel(x), [("B", 4)])]),
    "swapaxes": (["transpose"], ["Transpose"], [_case("swapaxes", lambda x: jnp.swapaxes(x, 0, 2), [("B", 3, 4)])]),
    "moveaxis": (["transpose"], ["Transpose"], [_case("moveaxis", lambda x: jnp.moveaxis(x, 0, -1), [("B", 3, 4)])]),
    "vstack": (["concatenate"], ["Concat"], [_case("vstack", lambda x, y: jnp.vstack([x, y]), [("B", 4), (2, 4)])]),
    "hstack": (["concatenate"], ["Concat"], [_case("hstack", lambda x, y: jnp.hstack([x, y]), [("B", 4), ("B", 1)])]),
    "diff": (["slice", "sub"], ["Slice", "Sub"], [_case("diff", lambda x: jnp.diff(x, axis=1), [("B", 5)])]),
    "cumprod": (["cumprod"], ["Pad", "Mul"], [
        _case("cumprod", lambda x: jnp.cumprod(x, axis=1), [("B", 5)], input_values=_positive),
    ]),
    "trace": (["iota", "eq", "select_n", "reduce_sum"], ["Where", "ReduceSum"], [
        _case("trace", lambda x: jnp.trace(x, axis1=1, axis2=2), [("B", 3, 3)]),
    ]),
    "tensordot": (["dot_general"], ["MatMul", "Einsum"], [
        _case("tensordot", lambda x, y: jnp.tensordot(x, y, axes=((1, 2), (0, 1))), [("B", 3, 4), (3, 4, 2)]),
    ]),
    "kron": (["broadcast_in_dim", "mul", "reshape"], ["Mul", "Reshape"], [
        _case("kron", lambda x, y: jnp.kron(x, y), [("B", 2), (2, 3)]),
    ]),
    "argwhere": (["cumsum", "scatter-add", "select_n"], ["CumSum", "ScatterElements", "Where"], [
        _case("argwhere_size", lambda x: jnp.argwhere(x > 0, size=4, fill_value=-1), [("B", 3)], **SCATTER_ADD),
    ]),
    "nonzero": (["cumsum", "scatter-add", "select_n"], ["CumSum", "ScatterElements", "Where"], [
        _case("nonzero_size", lambda x: jnp.nonzero(x > 0, size=3), [(2, "B")], **SCATTER_ADD),
    ]),
}

for _name, (_via, _onnx, _cases) in ROWS.items():
    coverage(f"jax.numpy.{_name}", via=_via, onnx=_onnx, since="0.1.0", doc=JNP_DOC.format(_name),
             testcases=_cases, module=__name__)
