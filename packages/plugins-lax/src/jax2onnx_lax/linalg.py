"""dot_general."""

from __future__ import annotations

from jax2onnx.plugin import lowering


@lowering("dot_general", component="jax.lax.dot_general", onnx=["MatMul", "Einsum"], since="0.1.0")
def lower_dot_general(ctx, lhs, rhs, *, dimension_numbers, **params):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs_rank, rhs_rank = len(ctx.in_avals[0].shape), len(ctx.in_avals[1].shape)
    if not lb and not rb and list(lc) == [lhs_rank - 1] and list(rc) == [0] and rhs_rank == 2:
        out = ctx.op.MatMul(lhs, rhs)
    else:
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        lhs_l = [next(letters) for _ in range(lhs_rank)]
        rhs_l = [None] * rhs_rank
        for a, b in zip(lc, rc):
            rhs_l[b] = lhs_l[a]
        for a, b in zip(lb, rb):
            rhs_l[b] = lhs_l[a]
        rhs_l = [c or next(letters) for c in rhs_l]
        out_l = [lhs_l[a] for a in lb] + [c for i, c in enumerate(lhs_l) if i not in lc and i not in lb] + \
                [c for i, c in enumerate(rhs_l) if i not in rc and i not in rb]
        out = ctx.op.Einsum(lhs, rhs, equation=f"{''.join(lhs_l)},{''.join(rhs_l)}->{''.join(out_l)}")
    return ctx.cast(out, ctx.out_avals[0].dtype, from_dtype=ctx.in_avals[0].dtype)
