"""Indexing: dynamic slices, gather and the scatter family.

Gather and scatter share one analysis of their dimension numbers (:class:`IndexDims`) and pick
the plainest ONNX op that fits: Gather, GatherElements/ScatterElements, Slice, or
GatherND/ScatterND, falling back to GatherND/ScatterND over an explicit grid of operand indices.
Start indices are clamped as JAX does (XLA's gather clamps; CLIP clamps); "fill" gathers mask
out-of-bounds rows and "drop" scatters send them to a padding row that is sliced off after.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, lowering
from jax2onnx_lax._shared import LAX_DOC

from .shapes import INT64_MAX, ints, iota, is_static

lax, jnp = jax.lax, jax.numpy
FILL_OR_DROP, CLIP = lax.GatherScatterMode.FILL_OR_DROP, lax.GatherScatterMode.CLIP
SCATTER_REDUCTIONS = {"scatter": "none", "scatter-add": "add", "scatter-sub": "add", "scatter-mul": "mul",
                      "scatter-min": "min", "scatter-max": "max"}
REDUCTION_OPSET = {"add": 16, "mul": 16, "min": 18, "max": 18}  # the opset that added each reduction


@dataclasses.dataclass(frozen=True)
class IndexDims:
    """Gather and scatter dimension numbers in one vocabulary.

    The "result" is a gather's output or a scatter's updates: its ``window_pos`` dims are the
    operand's kept window dims in order, the others the batch dims of the start indices.
    """

    operand_shape: tuple
    sizes: tuple
    start_map: tuple
    collapsed: tuple
    operand_batching: tuple
    indices_batching: tuple
    window_pos: tuple
    result_rank: int

    @property
    def layout(self) -> list[tuple[str, int]]:
        """Per result dim: ("w", operand dim) or ("b", start-indices dim)."""
        window = iter(d for d in range(len(self.operand_shape)) if d not in self.collapsed + self.operand_batching)
        batch = iter(range(self.result_rank))
        return [("w", next(window)) if p in self.window_pos else ("b", next(batch)) for p in range(self.result_rank)]

    @property
    def rest(self) -> list[int]:
        return [d for d in range(len(self.operand_shape)) if d not in self.start_map + self.operand_batching]

    @property
    def batch_pos(self) -> list[int]:
        return [p for p in range(self.result_rank) if p not in self.window_pos]

    @property
    def batch_rank(self) -> int:
        return self.result_rank - len(self.window_pos)

    @property
    def is_nd(self) -> bool:
        """Single elements at the indexed dims, whole extents elsewhere: GatherND/ScatterND (size-1
        dims, collapsed or not, are squeezed or unsqueezed to fit)."""
        return (all(self.sizes[d] == 1 for d in self.start_map)
                and all(self.sizes[d] == self.operand_shape[d] for d in self.rest))

    @property
    def batch_labels(self) -> list[tuple[str, int]]:
        return [("b", i) for i in range(self.batch_rank)]

    @property
    def elements_labels(self) -> list | None:
        """Dim labels of the GatherElements/ScatterElements form, or None when it does not apply:
        one indexed dim, all others batched in place (take_along_axis, vmapped x[i]). The indexed
        dim is labelled None (a size-1 dim) when the result has no dim for it."""
        rank = len(self.operand_shape)
        if len(self.start_map) != 1 or len(self.operand_batching) != rank - 1 or self.sizes[self.start_map[0]] != 1:
            return None
        axis = self.start_map[0]
        extra = [("b", i) for i in range(self.batch_rank) if i not in self.indices_batching]
        if len(extra) > 1:
            return None
        own = extra[0] if extra else None if axis in self.collapsed else ("w", axis)
        paired = dict(zip(self.operand_batching, self.indices_batching))
        return [own if d == axis else ("b", paired[d]) for d in range(rank)]


def gather_dims(dn, sizes: Sequence[Any], operand_shape: Sequence[Any], result_rank: int) -> IndexDims:
    return IndexDims(tuple(operand_shape), tuple(sizes), _ints(dn.start_index_map), _ints(dn.collapsed_slice_dims),
                     _ints(dn.operand_batching_dims), _ints(dn.start_indices_batching_dims), _ints(dn.offset_dims),
                     result_rank)


def scatter_dims(dn, operand_shape: Sequence[Any], updates_shape: Sequence[Any]) -> IndexDims:
    windows = iter(updates_shape[p] for p in dn.update_window_dims)
    sizes = [1 if d in dn.inserted_window_dims + dn.operand_batching_dims else next(windows)
             for d in range(len(operand_shape))]
    return IndexDims(tuple(operand_shape), tuple(sizes), _ints(dn.scatter_dims_to_operand_dims),
                     _ints(dn.inserted_window_dims), _ints(dn.operand_batching_dims),
                     _ints(dn.scatter_indices_batching_dims), _ints(dn.update_window_dims), len(updates_shape))


def _ints(values: Sequence[Any]) -> tuple[int, ...]:
    """Plain ints (dimension numbers may hold numpy integers, which ONNX attributes reject)."""
    return tuple(int(v) for v in values)


def clamp_starts(ctx: LoweringContext, indices: ir.Value, dims: IndexDims, check: bool,
                 index_dtype: Any = np.int64) -> tuple[ir.Value, ir.Value | None]:
    """Start indices clamped so each window lies in the operand, and (if ``check``) a [..., 1]
    mask of the rows that needed no clamping (None: all of them)."""
    hi = [dims.operand_shape[d] - dims.sizes[d] for d in dims.start_map]
    known = ctx.const_value(indices)
    if known is not None and all(is_static(h) for h in hi):
        clamped = np.clip(known.astype(np.int64), 0, np.array(hi, dtype=np.int64))
        valid = (clamped == known).all(-1, keepdims=True)
        return ctx.const(clamped), None if valid.all() or not check else ctx.const(valid)
    indices = ctx.cast(indices, np.int64, from_dtype=index_dtype)
    zero = ctx.const(np.array(0, np.int64))
    clamped = ctx.op.Max(ctx.op.Min(indices, ctx.shape_tensor(hi)), zero)
    if not check:
        return clamped, None
    if len(hi) == 1:
        return clamped, ctx.op.Equal(indices, clamped)
    moved = ctx.op.ReduceMax(ctx.op.Abs(ctx.op.Sub(indices, clamped)), ints(ctx, [-1]), keepdims=1)
    return clamped, ctx.op.Equal(moved, zero)


def relabel(ctx: LoweringContext, x: ir.Value, source: list, target: list) -> ir.Value:
    """Rearranges the dims of ``x`` from ``source`` labels to ``target`` labels; a label on one
    side only is a size-1 dim (squeezed or unsqueezed)."""
    dropped = [p for p, label in enumerate(source) if label not in target]
    if dropped:
        x = squeeze(ctx, x, dropped)
        source = [label for label in source if label in target]
    perm = [source.index(label) for label in target if label in source]
    if perm != sorted(perm):
        x = ctx.op.Transpose(x, perm=perm)
    return place(ctx, x, len(target), [p for p, label in enumerate(target) if label in source])


def place(ctx: LoweringContext, x: ir.Value, rank: int, keep: Sequence[int], broadcast: bool = False) -> ir.Value:
    """Unsqueezes ``x`` to ``rank`` dims, its own dims landing at positions ``keep``; with
    ``broadcast``, leading size-1 dims are left to the consumer's broadcasting."""
    lead = min(keep, default=rank) if broadcast else 0
    missing = [p - lead for p in range(lead, rank) if p not in keep]
    if not missing:
        return x
    known = ctx.const_value(x)
    if known is not None:
        return ctx.const(np.expand_dims(known, tuple(missing)))
    return ctx.op.Unsqueeze(x, ints(ctx, missing))


def squeeze(ctx: LoweringContext, x: ir.Value, axes: Sequence[int]) -> ir.Value:
    known = ctx.const_value(x)
    return ctx.const(np.squeeze(known, tuple(axes))) if known is not None else ctx.op.Squeeze(x, ints(ctx, axes))


def split_last(ctx: LoweringContext, x: ir.Value, k: int) -> list[ir.Value]:
    """The k components of the last dim, each keeping it as size 1."""
    known = ctx.const_value(x)
    if known is not None:
        return [ctx.const(known[..., j:j + 1]) for j in range(k)]
    return list(ctx.op.Split(x, ints(ctx, [1] * k), axis=-1, _outputs=k)) if k > 1 else [x]


def elements_layout(ctx: LoweringContext, x: ir.Value, dims: IndexDims) -> ir.Value:
    """``x`` (start indices or their mask, [*batch, 1]) in the GatherElements/ScatterElements layout."""
    labels = dims.elements_labels
    assert labels is not None  # only called where the elements form applies
    own = labels[dims.start_map[0]]
    # The index-vector dim doubles as the indexed dim when no batch dim plays that part.
    vector = own if own not in dims.batch_labels else "vector"
    return relabel(ctx, x, [*dims.batch_labels, vector], labels)


def index_grid(ctx: LoweringContext, dims: IndexDims, starts: ir.Value,
               result_shape: Sequence[Any]) -> tuple[ir.Value, int]:
    """The operand index of every result element, as [*result_shape[:n], r]; trailing whole-extent
    window dims are left out (ScatterND/GatherND take them as slices), all but the first: GatherND and
    ScatterND need at least one index component. Returns it and n."""
    layout, rank = dims.layout, len(dims.operand_shape)
    tail = 0
    while (tail < min(rank - 1, len(layout)) and layout[-1 - tail] == ("w", rank - 1 - tail)
           and dims.sizes[rank - 1 - tail] == dims.operand_shape[rank - 1 - tail]):
        tail += 1
    n, r = len(result_shape) - tail, rank - tail
    batch_pos = dims.batch_pos
    window_pos = {d: p for p, (kind, d) in enumerate(layout[:n]) if kind == "w"}
    parts = [place(ctx, part, n + 1, batch_pos + [n], broadcast=True)
             for part in split_last(ctx, starts, len(dims.start_map))]
    components = []
    for d in range(r):
        offsets = [parts[dims.start_map.index(d)]] if d in dims.start_map else []
        if d in window_pos:
            offsets.append(place(ctx, iota(ctx, dims.sizes[d]), n + 1, [window_pos[d]], broadcast=True))
        if d in dims.operand_batching:
            axis = batch_pos[dims.indices_batching[dims.operand_batching.index(d)]]
            offsets.append(place(ctx, iota(ctx, dims.operand_shape[d]), n + 1, [axis], broadcast=True))
        c = offsets[0] if offsets else ctx.const(np.zeros([1] * (n + 1), np.int64))
        for offset in offsets[1:]:
            c = ctx.op.Add(c, offset)
        components.append(ctx.op.Expand(c, ctx.shape_tensor([*result_shape[:n], 1])))
    return (ctx.op.Concat(*components, axis=-1) if r > 1 else components[0]), n


def squeeze_last(ctx: LoweringContext, x: ir.Value) -> ir.Value:
    return squeeze(ctx, x, [-1])


def stack_scalars(ctx: LoweringContext, scalars: Sequence[ir.Value]) -> ir.Value:
    """Scalar indices as one int64 vector (a constant when all are)."""
    known = [ctx.const_value(s) for s in scalars]
    if all(k is not None for k in known):
        return ctx.const(np.array(known, dtype=np.int64))
    parts = [ctx.op.Unsqueeze(ctx.cast(s, np.int64), ints(ctx, [0])) for s in scalars]
    return parts[0] if len(parts) == 1 else ctx.op.Concat(*parts, axis=0)


def slice_ends(ctx: LoweringContext, starts: ir.Value, sizes: Sequence[Any]) -> ir.Value:
    known = ctx.const_value(starts)
    if known is not None and all(is_static(s) for s in sizes):
        return ctx.const(known + np.array(sizes, dtype=np.int64))
    return ctx.op.Add(starts, ctx.shape_tensor(sizes))


def gather_slice(ctx: LoweringContext, operand: ir.Value, starts: ir.Value, dims: IndexDims) -> ir.Value:
    """A gather of one window (start indices without batch dims): Slice, then Squeeze."""
    extra = [d for d in dims.rest if dims.sizes[d] != dims.operand_shape[d]]
    if extra:
        starts = ctx.op.Concat(starts, ints(ctx, [0] * len(extra)), axis=0)
    axes = [*dims.start_map, *extra]
    out = ctx.op.Slice(operand, starts, slice_ends(ctx, starts, [dims.sizes[d] for d in axes]), ints(ctx, axes))
    return ctx.op.Squeeze(out, ints(ctx, dims.collapsed)) if dims.collapsed else out


def _unique_rows(rng, shapes):
    """Operand, distinct in-bounds row indices (scatter-set with duplicates is unspecified), updates."""
    operand, index, updates = shapes
    return [rng.standard_normal(operand), rng.permutation(operand[0])[:index[0]], rng.standard_normal(updates)]


def _out_of_bounds_rows(rng, shapes):
    """Operand, distinct row indices of which some lie outside the operand either side, updates."""
    operand, index, updates = shapes
    rows = rng.permutation(np.r_[-2 * operand[0]:-operand[0], 0:operand[0], operand[0]:2 * operand[0]])
    return [rng.standard_normal(operand), rows[:index[0]], rng.standard_normal(updates)]


def _row_permutations(rng, shapes):
    operand, index, updates = shapes
    rows = [rng.permutation(operand[1])[:index[1]] for _ in range(index[0])]
    return [rng.standard_normal(operand), np.array(rows).reshape(index), rng.standard_normal(updates)]


def _case(name: str, fn, **options) -> Testcase:
    """A testcase calling ``fn`` on JAX arrays (the kit passes NumPy arrays, whose indexing differs)."""
    reduction = SCATTER_REDUCTIONS.get("-".join(name.split("_")[:2]), "none")
    if reduction != "none":
        options.setdefault("min_opset", REDUCTION_OPSET[reduction])
        options.setdefault("min_opset_reason", f"ScatterND/ScatterElements reduction='{reduction}'; no older op "
                                               "combines updates to the same index")
    return Testcase(name, fn=lambda *args: fn(*map(jnp.asarray, args)), **options)


F32, I32 = np.float32, np.int32
NO_LOOP = ("Loop", "Identity")


def gather(ctx: LoweringContext, operand: ir.Value, starts: ir.Value, dims: IndexDims,
           out_shape: Sequence[Any]) -> ir.Value:
    rank, batch, labels = len(dims.operand_shape), dims.batch_rank, dims.elements_labels
    if dims.is_nd and len(dims.start_map) == 1 and not dims.operand_batching:
        a = dims.start_map[0]
        out = ctx.op.Gather(operand, squeeze_last(ctx, starts), axis=a)
        window = [("w", d) for d in dims.rest]
        return relabel(ctx, out, window[:a] + dims.batch_labels + window[a:], dims.layout)
    if labels is not None:
        idx = elements_layout(ctx, starts, dims)
        return relabel(ctx, ctx.op.GatherElements(operand, idx, axis=dims.start_map[0]), labels, dims.layout)
    if batch == 0 and not dims.operand_batching:
        return gather_slice(ctx, operand, starts, dims)
    if dims.is_nd:
        perm = [*dims.operand_batching, *dims.start_map, *dims.rest]
        batch_perm = [*dims.indices_batching, *(i for i in range(batch) if i not in dims.indices_batching)]
        data = relabel(ctx, operand, list(range(rank)), perm)
        idx = relabel(ctx, starts, list(range(batch + 1)), [*batch_perm, batch])
        out = ctx.op.GatherND(data, idx, batch_dims=len(dims.operand_batching))
        return relabel(ctx, out, [("b", i) for i in batch_perm] + [("w", d) for d in dims.rest], dims.layout)
    grid, _ = index_grid(ctx, dims, starts, out_shape)
    return ctx.op.GatherND(operand, grid)


@lowering("gather", component="jax.lax.gather", since="0.1.0", doc=LAX_DOC.format("gather"),
          onnx=["Gather", "GatherElements", "GatherND", "Slice", "Where"], testcases=[
              _case("gather_column_symbolic", fn=lambda x: x[:, 1], inputs=[("B", 4)], expect_ops=["Gather"]),
              _case("gather_column_int", fn=lambda x: x[:, -1], inputs=[(3, "B")], input_dtypes=[I32],
                       forbid_ops=NO_LOOP),
              _case("gather_rows", fn=lambda x, i: x[i], inputs=[("B", 5, 3), (4,)], input_dtypes=[F32, I32],
                       forbid_ops=NO_LOOP),
              _case("gather_rows_bool", fn=lambda x, i: x[i], inputs=[("B", 3), (2,)],
                       input_dtypes=[np.bool_, I32]),
              _case("gather_rows_2d_index", fn=lambda x, i: x[i], inputs=[(6, "B"), (2, 3)],
                       input_dtypes=[F32, I32]),
              _case("gather_last_axis", fn=lambda x, i: x[..., i], inputs=[("B", 3, 6), (2, 2)],
                       input_dtypes=[F32, I32]),
              _case("gather_two_arrays", fn=lambda x, i, j: x[i, j], inputs=[(4, 5, "B"), (3,), (3,)],
                       input_dtypes=[F32, I32, I32]),
              _case("gather_middle_arrays", fn=lambda x, i: x[:, i, i], inputs=[("B", 5, 5), (3,)],
                       input_dtypes=[F32, I32]),
              _case("gather_split_advanced", fn=lambda x, i, j: x[:, i, :, j], inputs=[(2, 4, 3, 5), ("B",), ("B",)],
                       input_dtypes=[F32, I32, I32]),
              _case("gather_outer_indices", fn=lambda x, i, j: x[i[:, None], j[None, :]],
                       inputs=[(5, "B"), (3,), (2,)], input_dtypes=[F32, I32, I32]),
              _case("gather_index_and_slice", fn=lambda x, i: x[i, 1:3, 0], inputs=[(5, 4, 3), (2, "B")],
                       input_dtypes=[F32, I32]),
              _case("gather_take_flat", fn=lambda x, i: jnp.take(x, i), inputs=[(4, "B"), (5,)],
                       input_dtypes=[F32, I32]),
              _case("gather_array_and_int", fn=lambda x, i: x[i, 1], inputs=[(4, 5), ("B",)],
                       input_dtypes=[I32, I32]),
              _case("gather_take_clip", fn=lambda x, i: jnp.take(x, i, axis=1, mode="clip"),
                       inputs=[("B", 5), (6,)], input_dtypes=[F32, I32], forbid_ops=NO_LOOP),
              _case("gather_take_fill", fn=lambda x, i: jnp.take(x, i, axis=1, mode="fill"),
                       inputs=[("B", 5), (6,)], input_dtypes=[F32, I32]),
              _case("gather_take_fill_int", fn=lambda x, i: jnp.take(x, i, mode="fill", fill_value=-1),
                       inputs=[("B",), (3, 4)], input_dtypes=[I32, I32]),
              _case("gather_take_wrap", fn=lambda x, i: jnp.take(x, i, axis=0, mode="wrap"),
                       inputs=[(5, "B"), (6,)], input_dtypes=[F32, I32]),
              _case("gather_promise_in_bounds", fn=lambda x, i: x.at[:, i].get(mode="promise_in_bounds"),
                       inputs=[(2, 5, "B"), (3,)], input_dtypes=[F32, I32]),
              _case("gather_take_along_axis", fn=lambda x, i: jnp.take_along_axis(x, i, axis=1),
                       inputs=[("B", 5), ("B", 3)], input_dtypes=[F32, I32]),
              _case("gather_take_along_axis_3d", fn=lambda x, i: jnp.take_along_axis(x, i, axis=0),
                       inputs=[(4, "B", 3), (2, "B", 3)], input_dtypes=[F32, I32]),
              _case("gather_vmap_index", fn=lambda x, i: jax.vmap(lambda r, j: r[j])(x, i),
                       inputs=[("B", 5), ("B",)], input_dtypes=[F32, I32]),
              _case("gather_vmap_window", inputs=[("B", 5), ("B",)], input_dtypes=[F32, I32],
                       fn=lambda x, i: jax.vmap(lambda r, j: lax.dynamic_slice(r, (j,), (2,)))(x, i)),
              _case("gather_slice_symbolic", fn=lambda x: x[:, 1:3], inputs=[("B", 4)], expect_ops=["Slice"]),
              _case("gather_strided_symbolic", fn=lambda x: x[1:, ::2], inputs=[("B", 4)]),
              _case("gather_offset_between_batch", inputs=[(4, "B", 6), (3, 2, 1)], input_dtypes=[F32, I32],
                       fn=lambda x, i: lax.gather(x, i, lax.GatherDimensionNumbers(
                           offset_dims=(1, 3), collapsed_slice_dims=(0,), start_index_map=(0,)),
                           (1, x.shape[1], 6), mode="clip")),
              _case("gather_fill_window", inputs=[(5, "B"), (3, 1)], input_dtypes=[F32, I32],
                       fn=lambda x, i: lax.gather(x, i, lax.GatherDimensionNumbers(
                           offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0,)),
                           (2, x.shape[1]), mode="fill")),
              _case("gather_batched_window", inputs=[(3, 7, "B"), (3, 4, 1)], input_dtypes=[F32, I32],
                       fn=lambda x, i: lax.gather(x, i, lax.GatherDimensionNumbers(
                           offset_dims=(2, 3), collapsed_slice_dims=(), start_index_map=(1,),
                           operand_batching_dims=(0,), start_indices_batching_dims=(0,)),
                           (1, 3, x.shape[2]), mode="clip")),
              # Whole-extent windows at every dim, so the clamped starts are all 0: GatherND keeps one index.
              _case("gather_whole_windows", inputs=[(4, 5, "B"), (2, 3, 2)], input_dtypes=[F32, I32],
                       fn=lambda x, i: lax.gather(x, i, lax.GatherDimensionNumbers(
                           offset_dims=(2, 3, 4), collapsed_slice_dims=(), start_index_map=(1, 2)),
                           x.shape, mode="clip")),
              _case("gather_vmap_two_indices", fn=lambda x, i, j: jax.vmap(lambda r, a, b: r[a, b])(x, i, j),
                       inputs=[("B", 4, 5), ("B",), ("B",)], input_dtypes=[F32, I32, I32]),
              _case("gather_take_along_axis_broadcast", fn=lambda x, i: jnp.take_along_axis(x, i, axis=1),
                       inputs=[("B", 5), (1, 3)], input_dtypes=[F32, I32]),
              _case("gather_negative_index", fn=lambda x: x[-1], inputs=[("B", 3)]),
              # ONNX Runtime has no Where kernel for these dtypes: the fill of out-of-bounds rows widens.
              *[_case(f"gather_fill_{np.dtype(t).name}", fn=lambda x, i: x.at[i].get(mode="fill", fill_value=1),
                      inputs=[("B", 3), (4,)], input_dtypes=[t, I32],
                      input_values=lambda rng, s: [rng.integers(0, 2, s[0]), np.array([0, -1, 1, 7])])
                for t in (np.bool_, np.int16, np.uint16)],
              # Found by the fuzzer: the fill mask's Where has no bool kernel in ONNX Runtime.
              _case("gather_take_bool", fn=lambda x: jnp.take(x, np.array([0, 2], np.int32), axis=1),
                       inputs=[("B", 3)], input_dtypes=[np.bool_]),
          ])
def lower_gather(ctx: LoweringContext, operand, indices, *, dimension_numbers, slice_sizes, mode, fill_value, **params):
    out_shape = ctx.out_avals[0].shape
    dims = gather_dims(dimension_numbers, slice_sizes, ctx.in_avals[0].shape, len(out_shape))
    starts, valid = clamp_starts(ctx, indices, dims, mode == FILL_OR_DROP, ctx.in_avals[1].dtype)
    out = gather(ctx, operand, starts, dims, out_shape)
    if valid is None:
        return out
    mask = place(ctx, squeeze_last(ctx, valid), len(out_shape), dims.batch_pos, broadcast=True)
    dtype = ctx.out_avals[0].dtype
    return ctx.kernel_op("Where", mask, out, ctx.const(np.array(fill_value, dtype=dtype)), dtype=dtype, data=(1, 2))


@lowering("dynamic_slice", component="jax.lax.dynamic_slice", onnx=["Slice"], since="0.1.0",
          doc=LAX_DOC.format("dynamic_slice"), testcases=[
              _case("dynamic_slice_clamped", fn=lambda x, i, j: lax.dynamic_slice(x, (i, j), (2, 3)),
                       inputs=[(6, 5), (), ()], input_dtypes=[F32, I32, I32]),
              _case("dynamic_slice_symbolic", fn=lambda x, i: lax.dynamic_slice_in_dim(x, i, 3, axis=1),
                       inputs=[("B", 7), ()], input_dtypes=[F32, I32], forbid_ops=NO_LOOP),
              _case("dynamic_slice_const", fn=lambda x: lax.dynamic_slice(x, (1, 4), (2, 2)), inputs=[(4, 5)],
                       expect_ops=["Slice"]),
              _case("dynamic_slice_scalar_index", fn=lambda x, i: x[i], inputs=[("B", 3), ()],
                       input_dtypes=[F32, I32]),
          ])
def lower_dynamic_slice(ctx: LoweringContext, x, *starts, slice_sizes):
    shape = ctx.in_avals[0].shape
    # A whole-extent slice always starts at 0 (JAX clamps the start).
    axes = tuple(a for a, d in enumerate(shape) if slice_sizes[a] != d)
    if not axes:
        return x
    dims = IndexDims(tuple(shape), tuple(slice_sizes), axes, (), (), (), tuple(range(len(shape))), len(shape))
    begin, _ = clamp_starts(ctx, stack_scalars(ctx, [starts[a] for a in axes]), dims, check=False)
    return gather_slice(ctx, x, begin, dims)


@lowering("dynamic_update_slice", component="jax.lax.dynamic_update_slice", onnx=["Slice", "Concat", "ScatterND"],
          since="0.1.0", doc=LAX_DOC.format("dynamic_update_slice"), testcases=[
              _case("dynamic_update_slice_cache", fn=lambda c, u, t: lax.dynamic_update_slice_in_dim(c, u, t, 1),
                       inputs=[("B", 8, 4), ("B", 1, 4), ()], input_dtypes=[F32, F32, I32], forbid_ops=NO_LOOP),
              _case("dynamic_update_slice_clamped", fn=lambda x, u, i, j: lax.dynamic_update_slice(x, u, (i, j)),
                       inputs=[(5, 6), (2, 3), (), ()], input_dtypes=[F32, F32, I32, I32]),
              _case("dynamic_update_slice_symbolic", fn=lambda x, u: lax.dynamic_update_slice(x, u, (1, 0)),
                       inputs=[(4, "B"), (2, "B")], input_dtypes=[I32, I32]),
              _case("dynamic_update_slice_empty_update", fn=lambda x, u, i: lax.dynamic_update_slice(x, u, (i, i, i)),
                       inputs=[(7, "B", 3), (2, 0, 1), ()], input_dtypes=[F32, F32, I32], forbid_ops=()),
          ])
def lower_dynamic_update_slice(ctx: LoweringContext, x, update, *starts):
    shape, update_shape = ctx.in_avals[0].shape, ctx.in_avals[1].shape
    if 0 in update_shape:  # nothing to write
        return x
    axes = tuple(a for a, d in enumerate(shape) if update_shape[a] != d)
    if not axes:
        return update
    dims = IndexDims(tuple(shape), tuple(update_shape), axes, (), (), (), tuple(range(len(shape))), len(shape))
    begin, _ = clamp_starts(ctx, stack_scalars(ctx, [starts[a] for a in axes]), dims, check=False)
    if len(axes) == 1:
        # Along one axis: the operand's head, the update, the operand's tail.
        axis = ints(ctx, axes)
        head = ctx.op.Slice(x, ints(ctx, [0]), begin, axis)
        tail = ctx.op.Slice(x, slice_ends(ctx, begin, [update_shape[axes[0]]]), ints(ctx, [INT64_MAX]), axis)
        return ctx.op.Concat(head, update, tail, axis=axes[0])
    grid, _ = index_grid(ctx, dims, begin, update_shape)
    return ctx.op.ScatterND(x, grid, update)


@lowering(*SCATTER_REDUCTIONS, component="jax.lax.{}", since="0.1.0", doc=LAX_DOC.format("scatter"),
          onnx=["ScatterND", "ScatterElements", "Transpose", "Pad", "Slice"], testcases=[
              _case("scatter_set_rows", fn=lambda x, i, v: x.at[i].set(v), inputs=[("B", 3), (2,), (2, 3)],
                       input_dtypes=[F32, I32, F32], input_values=_unique_rows, forbid_ops=NO_LOOP),
              _case("scatter_set_column", fn=lambda x: x.at[:, 1].set(2.0), inputs=[("B", 4)],
                       forbid_ops=NO_LOOP),
              _case("scatter_set_drops_out_of_bounds", fn=lambda x, i, v: x.at[i].set(v),
                       inputs=[(5, "B"), (4,), (4, "B")], input_dtypes=[F32, I32, F32],
                       input_values=_out_of_bounds_rows),
              _case("scatter_set_slice", fn=lambda x: x.at[1:3].set(0.5), inputs=[(4, "B")]),
              _case("scatter_set_symbolic_slice", fn=lambda x, v: x.at[:, 1:3].set(v), inputs=[("B", 4), ("B", 2)]),
              _case("scatter_set_vmap", fn=lambda x, i, v: jax.vmap(lambda r, j, w: r.at[j].set(w))(x, i, v),
                       inputs=[("B", 5), ("B",), ("B",)], input_dtypes=[F32, I32, F32]),
              _case("scatter_set_vmap_window", inputs=[("B", 6), ("B",), ("B", 2)], input_dtypes=[F32, I32, F32],
                       fn=lambda x, i, v: jax.vmap(lambda r, j, w: lax.dynamic_update_slice(r, w, (j,)))(x, i, v)),
              _case("scatter_put_along_axis", inputs=[(3, 5), (3, 2), (3, 2)], input_dtypes=[F32, I32, F32],
                       fn=lambda x, i, v: jnp.put_along_axis(x, i, v, axis=1, inplace=False),
                       input_values=_row_permutations),
              _case("scatter_set_bool", fn=lambda x, i: x.at[i].set(True), inputs=[("B", 3), (4,)],
                       input_dtypes=[np.bool_, I32]),
              _case("scatter_add_duplicates", fn=lambda x, i, v: x.at[i].add(v), inputs=[(5, "B"), (6,), (6, "B")],
                       input_dtypes=[F32, I32, F32]),
              _case("scatter_add_two_arrays", fn=lambda x, i, j, v: x.at[i, j].add(v),
                       inputs=[(4, 5, "B"), (6,), (6,), (6, "B")], input_dtypes=[F32, I32, I32, F32]),
              _case("scatter_add_clip", fn=lambda x, i, v: x.at[i].add(v, mode="clip"),
                       inputs=[("B", 3), (5,), (5, 3)], input_dtypes=[F32, I32, F32]),
              _case("scatter_add_promise", fn=lambda x, i, v: x.at[:, i].add(v, mode="promise_in_bounds"),
                       inputs=[(3, 8), ("B",), (3, "B")], input_dtypes=[F32, I32, F32],
                       input_values=lambda rng, s: [rng.standard_normal(s[0]), rng.integers(0, 8, s[1]),
                                                    rng.standard_normal(s[2])]),
              _case("scatter_add_int", fn=lambda x, i: x.at[i].add(3), inputs=[(4, "B"), (3,)],
                       input_dtypes=[I32, I32]),
              _case("scatter_add_batched", inputs=[("B", 6), ("B", 3, 1), ("B", 3)], input_dtypes=[F32, I32, F32],
                       fn=lambda x, i, v: lax.scatter_add(x, i, v, lax.ScatterDimensionNumbers(
                           update_window_dims=(), inserted_window_dims=(1,), scatter_dims_to_operand_dims=(1,),
                           operand_batching_dims=(0,), scatter_indices_batching_dims=(0,)), mode="drop")),
              _case("scatter_add_whole_windows", inputs=[(3, 4, "B"), (2, 2), (2, 3, 4, "B")],
                       input_dtypes=[F32, I32, F32],
                       fn=lambda x, i, v: lax.scatter_add(x, i, v, lax.ScatterDimensionNumbers(
                           update_window_dims=(1, 2, 3), inserted_window_dims=(), scatter_dims_to_operand_dims=(1, 2)),
                           mode="clip")),
              _case("scatter_add_vmap_two_indices", inputs=[("B", 4, 5), ("B",), ("B",), ("B",)],
                       fn=lambda x, i, j, v: jax.vmap(lambda r, a, b, w: r.at[a, b].add(w))(x, i, j, v),
                       input_dtypes=[F32, I32, I32, F32]),
              _case("scatter_add_split_advanced", fn=lambda x, i, j, v: x.at[:, i, :, j].add(v),
                       inputs=[(2, 4, 3, 5), ("B",), ("B",), ("B", 2, 3)], input_dtypes=[F32, I32, I32, F32]),
              _case("scatter_mul_index_and_slice", fn=lambda x, i, v: x.at[i, 1:3, 0].mul(v),
                       inputs=[(5, 4, 3), (2, "B"), (2, "B", 2)], input_dtypes=[F32, I32, F32]),
              _case("scatter_sub", fn=lambda x, i, v: x.at[i].subtract(v), inputs=[("B", 3), (4,), (4, 3)],
                       input_dtypes=[F32, I32, F32]),
              _case("scatter_mul_columns", fn=lambda x, i, v: x.at[:, i].mul(v), inputs=[("B", 5), (3,), ("B", 3)],
                       input_dtypes=[F32, I32, F32]),
              _case("scatter_min", fn=lambda x, i, v: x.at[i].min(v), inputs=[(5, "B"), (6,), (6, "B")],
                       input_dtypes=[F32, I32, F32]),
              _case("scatter_max_vmap", fn=lambda x, i, v: jax.vmap(lambda r, j, w: r.at[j].max(w))(x, i, v),
                       inputs=[("B", 5), ("B",), ("B",)], input_dtypes=[F32, I32, F32]),
              _case("scatter_min_take_along_axis_layout", inputs=[("B", 6), ("B", 3, 1), ("B", 3)],
                       input_dtypes=[I32, I32, I32],
                       fn=lambda x, i, v: lax.scatter_min(x, i, v, lax.ScatterDimensionNumbers(
                           update_window_dims=(), inserted_window_dims=(1,), scatter_dims_to_operand_dims=(1,),
                           operand_batching_dims=(0,), scatter_indices_batching_dims=(0,)), mode="clip")),
              _case("scatter_max_int", fn=lambda x, i, v: x.at[i, 2].max(v), inputs=[(5, 4), ("B",), ("B",)],
                       input_dtypes=[I32, I32, I32]),
          ])
def lower_scatter(ctx: LoweringContext, operand, indices, updates, *, dimension_numbers, mode, update_jaxpr=None,
                  **params):
    name = ctx.primitive.name
    if name == "scatter" and update_jaxpr is not None:
        raise ctx.fail("x.at[...].apply (a scatter with an update function) has no lowering: compute the new "
                       "values from x[...] and write them with x.at[...].set instead")
    if name == "scatter-sub":
        updates = ctx.op.Neg(updates)
    dims = scatter_dims(dimension_numbers, ctx.in_avals[0].shape, ctx.in_avals[2].shape)
    # Out-of-bounds windows are skipped unless clipped (XLA's scatter drops them).
    starts, valid = clamp_starts(ctx, indices, dims, mode != CLIP, ctx.in_avals[1].dtype)
    if dims.elements_labels is not None:
        form = scatter_elements
    else:
        form = scatter_nd if dims.is_nd and not dims.operand_batching else scatter_grid
    return form(ctx, operand, starts, valid, updates, dims, SCATTER_REDUCTIONS[name])


def scatter_elements(ctx: LoweringContext, operand, starts, valid, updates, dims: IndexDims,
                     reduction: str) -> ir.Value:
    axis = dims.start_map[0]
    idx = elements_layout(ctx, starts, dims)
    if valid is not None:
        idx = redirect(ctx, idx, elements_layout(ctx, valid, dims), dims.operand_shape[axis], 1)
    updates = relabel(ctx, updates, dims.layout, dims.elements_labels or [])
    return with_padding_row(ctx, operand, axis, valid, dims, lambda data: scatter_op(
        ctx, "ScatterElements", data, idx, updates, reduction, axis=axis))


def scatter_nd(ctx: LoweringContext, operand, starts, valid, updates, dims: IndexDims, reduction: str) -> ir.Value:
    """ScatterND with the indexed dims moved to the front."""
    dims_in_order, perm = list(range(len(dims.operand_shape))), [*dims.start_map, *dims.rest]
    idx = starts
    if valid is not None:
        idx = redirect(ctx, idx, valid, dims.operand_shape[perm[0]], len(dims.start_map))
    updates = relabel(ctx, updates, dims.layout, dims.batch_labels + [("w", d) for d in dims.rest])
    out = with_padding_row(ctx, relabel(ctx, operand, dims_in_order, perm), 0, valid, dims,
                           lambda data: scatter_op(ctx, "ScatterND", data, idx, updates, reduction))
    return relabel(ctx, out, perm, dims_in_order)


def scatter_grid(ctx: LoweringContext, operand, starts, valid, updates, dims: IndexDims, reduction: str) -> ir.Value:
    """ScatterND over the operand index of every update element."""
    updates_shape = ctx.in_avals[2].shape
    idx, n = index_grid(ctx, dims, starts, updates_shape)
    if valid is not None:
        mask = place(ctx, valid, n + 1, [*dims.batch_pos, n], broadcast=True)
        idx = redirect(ctx, idx, mask, dims.operand_shape[0], len(dims.operand_shape) - len(updates_shape) + n)
    return with_padding_row(ctx, operand, 0, valid, dims,
                            lambda data: scatter_op(ctx, "ScatterND", data, idx, updates, reduction))


def scatter_op(ctx: LoweringContext, op_type: str, data, idx, updates, reduction: str, **attrs) -> ir.Value:
    """A Scatter node, in a wider dtype where ONNX Runtime has no kernel for its reduction (float16 add)."""
    key = op_type if reduction == "none" else f"{op_type}:{reduction}"
    return ctx.kernel_op(op_type, data, idx, updates, dtype=ctx.in_avals[0].dtype, data=(0, 2), kernel_key=key,
                         reduction=reduction, **attrs)


def redirect(ctx: LoweringContext, idx: ir.Value, mask: ir.Value, operand_dim: Any, width: int) -> ir.Value:
    """Points the index rows ``mask`` rejects at the padding row after ``operand_dim``."""
    return ctx.op.Where(mask, idx, ctx.shape_tensor([operand_dim] + [0] * (width - 1)))


def with_padding_row(ctx: LoweringContext, operand: ir.Value, axis: int, valid: ir.Value | None, dims: IndexDims,
                     scatter) -> ir.Value:
    """``scatter(operand)``; when rows may be dropped, through a padding row at the end of ``axis``."""
    if valid is None:
        return scatter(operand)
    rank = len(dims.operand_shape)
    padded = ctx.kernel_op("Pad", operand, ints(ctx, [0] * (rank + axis) + [1] + [0] * (rank - axis - 1)),
                           dtype=ctx.in_avals[0].dtype, data=(0,))
    return ctx.op.Slice(scatter(padded), ints(ctx, [0]), ints(ctx, [-1]), ints(ctx, [axis]))
