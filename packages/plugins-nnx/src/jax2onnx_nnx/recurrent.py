"""nnx.RNN as one ONNX LSTM / GRU / RNN node; layers stacked with nnx.scan / nnx.vmap through lax rules."""

from __future__ import annotations

import jax
import numpy as np
import onnx_ir as ir
from flax import nnx

from jax2onnx.plugin import LoweringContext, Testcase, call_lowering, coverage, in_module

from ._util import transpose, typed, value_of

_INT64_MIN = np.iinfo(np.int64).min

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/recurrent.html#flax.nnx.{}"


def _pick(ctx: LoweringContext, matrix, parts: int, order: list[int], axis: int):
    """Reorders the ``parts`` equal blocks of ``matrix`` along ``axis`` (nnx gate order to ONNX's)."""
    if parts == 1:
        return matrix
    size = matrix.shape[axis] // parts
    columns = np.concatenate([np.arange(i * size, (i + 1) * size) for i in order])
    return ctx.op.Gather(matrix, ctx.const(columns.astype(np.int64)), axis=axis)


# cell type -> (ONNX op, gates, nnx gate order as ONNX wants it). ONNX orders LSTM gates i, o, f, c and
# GRU gates z, r, h; nnx's fused cells order them i, f, g, o and r, z, n.
_CELLS: dict[type, tuple[str, int, list[int]]] = {
    nnx.OptimizedLSTMCell: ("LSTM", 4, [0, 3, 1, 2]),
    nnx.GRUCell: ("GRU", 3, [1, 0, 2]),
    nnx.SimpleCell: ("RNN", 1, [0]),
}


def _weights(ctx: LoweringContext, cell, dtype):
    """ONNX W [1, gates*H, I], R [1, gates*H, H] and B [1, 2*gates*H] of a cell."""
    hidden = cell.hidden_features
    if isinstance(cell, nnx.LSTMCell):
        kernels_i = ctx.op.Concat(*[value_of(m.kernel) for m in (cell.ii, cell.io, cell.if_, cell.ig)], axis=1)
        kernels_h = ctx.op.Concat(*[value_of(m.kernel) for m in (cell.hi, cell.ho, cell.hf, cell.hg)], axis=1)
        bias_i, bias_h = None, ctx.op.Concat(*[value_of(m.bias) for m in (cell.hi, cell.ho, cell.hf, cell.hg)], axis=0)
        gates = 4
    else:
        _, gates, order = _CELLS[type(cell)]
        kernels_i = _pick(ctx, value_of(cell.dense_i.kernel), gates, order, 1)
        kernels_h = _pick(ctx, value_of(cell.dense_h.kernel), gates, order, 1)
        bias_i, bias_h = (None if b is None else _pick(ctx, b, gates, order, 0)
                          for b in (value_of(cell.dense_i.bias), value_of(cell.dense_h.bias)))
    zeros = ctx.const(np.zeros(gates * hidden, dtype))
    first = ctx.const(np.array([0], np.int64))
    w = ctx.op.Unsqueeze(ctx.op.Transpose(kernels_i, perm=[1, 0]), first)
    r = ctx.op.Unsqueeze(ctx.op.Transpose(kernels_h, perm=[1, 0]), first)
    b = ctx.op.Unsqueeze(ctx.op.Concat(bias_i if bias_i is not None else zeros,
                                       bias_h if bias_h is not None else zeros, axis=0), first)
    return [typed(t, ir.TensorType(ir.DataType.from_numpy(np.dtype(dtype)))) for t in (w, r, b)]


def _native_cell(cell) -> str | None:
    """The ONNX op computing this cell, or None (custom gates, carry initializers, dtypes, residual)."""
    op = "LSTM" if isinstance(cell, nnx.LSTMCell) else _CELLS.get(type(cell), (None,))[0]
    gate_ok = getattr(cell, "gate_fn", jax.nn.sigmoid) is jax.nn.sigmoid
    plain = (cell.activation_fn is jax.numpy.tanh and gate_ok and cell.carry_init is None
             and not getattr(cell, "residual", False) and cell.promote_dtype is nnx.nn.dtypes.promote_dtype)
    return op if plain else None


def _rnn(cell_type, reverse: bool, **options):
    return lambda: nnx.RNN(cell_type(3, 4, rngs=nnx.Rngs(0)), reverse=reverse, rngs=nnx.Rngs(1), **options)


def _with_carry(cell_type, carry):
    rnn = nnx.RNN(cell_type(3, 4, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1))
    return lambda x, *state: rnn(x, initial_carry=carry(*state))


def _rnn_cases(cell_type, op: str) -> list[Testcase]:
    name = cell_type.__name__.lower()
    cases = [Testcase(f"rnn_{name}", factory=_rnn(cell_type, False), inputs=[("B", 5, 3)], x64=False,
                      expect_ops=["Transpose", op, "Squeeze", "Transpose"]),
             Testcase(f"rnn_{name}_reverse", factory=_rnn(cell_type, True), inputs=[("B", 5, 3)], x64=False,
                      expect_ops=["Transpose", op, "Squeeze", "Slice", "Transpose"]),
             Testcase(f"rnn_{name}_reverse_kept_order_carry", factory=_rnn(cell_type, True, keep_order=True,
                                                                          return_carry=True),
                      inputs=[("B", 5, 3)], x64=False, forbid_ops=("Identity", "Loop"))]
    return cases


# x64=False: the cells' float32 carry cannot take float64 inputs (JAX itself refuses the scan).
@call_lowering("flax.nnx.RNN.__call__", component="flax.nnx.RNN", onnx=["LSTM", "GRU", "RNN", "Transpose", "Squeeze"],
               since="0.1.0", doc=_DOC.format("RNN"),
               testcases=[*_rnn_cases(nnx.LSTMCell, "LSTM"), *_rnn_cases(nnx.OptimizedLSTMCell, "LSTM"),
                          *_rnn_cases(nnx.GRUCell, "GRU"), *_rnn_cases(nnx.SimpleCell, "RNN"),
                          Testcase("rnn_lstm_initial_carry",
                                   factory=lambda: _with_carry(nnx.LSTMCell, lambda c, h: (c, h)),
                                   inputs=[("B", 5, 3), ("B", 4), ("B", 4)], x64=False,
                                   forbid_ops=("Identity", "Loop")),
                          Testcase("rnn_gru_initial_carry", factory=lambda: _with_carry(nnx.GRUCell, lambda h: h),
                                   inputs=[("B", 5, 3), ("B", 4)], x64=False, forbid_ops=("Identity", "Loop")),
                          Testcase("rnn_simplecell_residual", factory=lambda: nnx.RNN(
                              nnx.SimpleCell(3, 3, residual=True, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(1)),
                                   inputs=[("B", 5, 3)], x64=False, forbid_ops=("Identity", "RNN"))])
def lower_rnn(ctx: LoweringContext, self, inputs, *, initial_carry=None, seq_lengths=None, return_carry=None,
              time_major=None, reverse=None, keep_order=None, rngs=None):
    cell, dtype = self.cell, ctx.out_avals[-1].dtype
    op = _native_cell(cell)
    if op is None or seq_lengths is not None or len(inputs.shape) != 3 or dtype != np.float32:
        return NotImplemented
    time_major = self.time_major if time_major is None else time_major
    reverse = self.reverse if reverse is None else reverse
    keep_order = self.keep_order if keep_order is None else keep_order
    return_carry = self.return_carry if return_carry is None else return_carry
    in_module(ctx, value_of(cell.ii.kernel if isinstance(cell, nnx.LSTMCell) else cell.dense_i.kernel), depth=3)
    # ONNX Runtime runs recurrent ops time-major only (layout 0).
    x = inputs if time_major else transpose(ctx, inputs, [1, 0, 2])
    # nnx carries (c, h) for LSTMs and h otherwise; ONNX wants them with a directions axis.
    initial = [] if initial_carry is None else list(initial_carry) if op == "LSTM" else [initial_carry]
    initial = [ctx.op.Unsqueeze(t, ctx.const(np.array([0], np.int64))) for t in initial]
    if op == "LSTM":
        initial_c, initial_h = initial or (None, None)
    else:
        initial_h, initial_c = (initial or [None])[0], None
    outputs = 3 if op == "LSTM" else 2
    results = getattr(ctx.op, op)(x, *_weights(ctx, cell, dtype), None, initial_h,
                                  *((initial_c,) if op == "LSTM" else ()), hidden_size=cell.hidden_features,
                                  direction="reverse" if reverse else "forward",
                                  **({"linear_before_reset": 1} if op == "GRU" else {}), _outputs=outputs)
    y = ctx.op.Squeeze(results[0], ctx.const(np.array([1], np.int64)))
    if reverse and not keep_order:
        # nnx scans the flipped sequence and keeps its order; ONNX writes each step at its own time.
        y = ctx.op.Slice(y, ctx.const(np.array([-1], np.int64)), ctx.const(np.array([_INT64_MIN], np.int64)),
                         ctx.const(np.array([0], np.int64)), ctx.const(np.array([-1], np.int64)))
    y = y if time_major else transpose(ctx, y, [1, 0, 2])
    if not return_carry:
        return y
    squeeze = ctx.const(np.array([0], np.int64))
    final = [ctx.op.Squeeze(results[i], squeeze) for i in ((2, 1) if op == "LSTM" else (1,))]
    return [*final, y]


class Block(nnx.Module):
    def __init__(self, features: int, rngs: nnx.Rngs):
        self.linear = nnx.Linear(features, features, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.linear(x))


class Stack(nnx.Module):
    """Layers created with nnx.vmap (stacked parameters) and applied with nnx.scan."""

    def __init__(self, features: int, depth: int, rngs: nnx.Rngs):
        @nnx.split_rngs(splits=depth)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def create(rngs: nnx.Rngs) -> Block:
            return Block(features, rngs)

        self.blocks = create(rngs)

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def apply(x, block: Block):
            return block(x)

        return apply(x, self.blocks)


class VmappedBlocks(nnx.Module):
    """One input through each of several stacked layers at once (nnx.vmap over the parameters)."""

    def __init__(self, features: int, depth: int, rngs: nnx.Rngs):
        self.stack = Stack(features, depth, rngs)

    def __call__(self, x):
        return nnx.vmap(lambda block, x: block(x), in_axes=(0, None))(self.stack.blocks, x)


coverage("flax.nnx.scan (stacked layers)", via=["scan", "call:flax.nnx.Linear.__call__"], onnx=["Loop", "Gemm"],
         since="0.1.0", doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/transforms.html",
         testcases=[Testcase("nnx_scan_stacked_layers", factory=lambda: Stack(4, 3, nnx.Rngs(0)),
                             inputs=[("B", 4)])],
         module=__name__)
coverage("flax.nnx.vmap (stacked layers)", via=["dot_general"], onnx=["MatMul", "Einsum"], since="0.1.0",
         doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/transforms.html",
         testcases=[Testcase("nnx_vmap_stacked_layers", factory=lambda: VmappedBlocks(4, 3, nnx.Rngs(0)),
                             inputs=[("B", 4)])],
         module=__name__)
