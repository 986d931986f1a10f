"""Control flow as ONNX subgraphs, never unrolled: cond/switch -> If, while and scan -> Loop."""

from __future__ import annotations

import jax
import jax.ad_checkpoint
import numpy as np
import onnx_ir as ir

from jax2onnx.plugin import LoweringContext, Testcase, coverage, lowering, tensor_type
from jax2onnx_lax._shared import LAX_DOC

# A Loop body's leading inputs: the iteration number and the incoming condition.
LOOP_INPUTS = [("iteration", np.int64, ()), ("keep_going", np.bool_, ())]


def _outputs(outs) -> list[ir.Value]:
    return [outs] if isinstance(outs, ir.Value) else list(outs)


def _typed(values, avals) -> list[ir.Value]:
    """Declares the types of values that end a body graph or that rules inside a body read."""
    for value, aval in zip(values, avals):
        if value.type is None:
            value.type, value.shape = tensor_type(aval.dtype, aval.shape)
    return list(values)


def _node_count(graph) -> int:
    """Nodes in a graph and all its subgraphs."""
    return sum(1 + sum(_node_count(a.g) for a in n.attribute if a.HasField("g")) for n in graph.node)


def _opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain == "")


def _rolled(op_type: str, count: int = 1, longer=None, inputs=()):
    """check_model: the main graph has ``count`` ``op_type`` nodes; with ``longer`` (the same
    function with more iterations) also that its export is no bigger, i.e. nothing was unrolled."""

    def check(model):
        ops = [n.op_type for n in model.graph.node]
        if ops.count(op_type) != count:
            raise AssertionError(f"expected {count} {op_type} in the main graph, got {ops}")
        if longer is not None:
            from jax2onnx import to_onnx

            double = model.graph.input[0].type.tensor_type.elem_type == ir.DataType.DOUBLE
            other = to_onnx(longer(), inputs, opset=_opset(model), enable_double_precision=double)
            if _node_count(other.graph) != _node_count(model.graph):
                raise AssertionError(f"{_node_count(model.graph)} nodes, but {_node_count(other.graph)} "
                                     "with more iterations: the loop was unrolled")

    return check


def _rnn(w, u, xs, reverse=False):
    """An RNN over time: xs is (time, batch, features)."""
    def cell(h, x):
        h = jax.numpy.tanh(h @ w + x @ u)
        return h, h

    return jax.lax.scan(cell, jax.numpy.zeros((xs.shape[1], w.shape[0]), xs.dtype), xs, reverse=reverse)


def _nested_scan(xs):
    def row(c: LoweringContext, xs_row):
        return jax.lax.scan(lambda a, v: (a * 0.5 + v, a), c, xs_row, reverse=True)

    return jax.lax.scan(row, jax.numpy.ones(xs.shape[2:], xs.dtype), xs)


def _fori_static(trips):
    return lambda x: jax.lax.fori_loop(0, trips, lambda i, c: c * 0.5 + x * i.astype(x.dtype), x)


def _scan_unrolled(trips):
    return lambda x: jax.lax.scan(lambda c, _: (jax.numpy.tanh(c) + x, c), x, None, length=trips, unroll=3)


def _branch_by_size(rng, shapes):
    """A predicate true at the smaller test size and false at the larger: both branches run."""
    return [shapes[1][0] == 2, rng.random(shapes[1])]


COND_CASES = [
    # Found by the fuzzer: a branch returning an operand computed outside (x + 1, twice after CSE) lost
    # its Identity to IdentityEliminationPass, leaving an outer value as the body's output.
    Testcase("cond_branch_returns_outer_value",
             fn=lambda p, x: jax.lax.cond(p, lambda v: v, lambda v: v * 2, x + 1.0),
             inputs=[(), ("B", 3)], input_dtypes=[np.bool_, np.float32], input_values=_branch_by_size),
    Testcase("cond_two_branches", fn=lambda p, x: (jax.lax.cond(p, lambda x: x * 2, lambda x: x + 1, x),
                                                   jax.lax.cond(p, lambda x: x + 1, lambda x: x * 2, x)),
             inputs=[(), ("B", 3)], input_dtypes=[np.bool_, np.float32], check_model=_rolled("If", 2)),
    Testcase("cond_multiple_operands",
             fn=lambda p, x, y: jax.lax.cond(p, lambda a, b: (a * b, b), lambda a, b: (a + b, a), x, y),
             inputs=[(), ("B", 3), ("B", 3)], input_dtypes=[np.bool_, np.float32, np.float32],
             input_values=lambda rng, shapes: [shapes[1][0] == 2, *(rng.standard_normal(s) for s in shapes[1:])]),
    Testcase("cond_constant_branch",
             fn=lambda p, x: jax.lax.cond(p, lambda x: jax.numpy.zeros_like(x),
                                          lambda x: jax.numpy.tanh(x) * np.arange(3, dtype=np.float32), x),
             inputs=[(), ("B", 3)], input_dtypes=[np.bool_, np.float32], input_values=_branch_by_size),
    Testcase("cond_nested",
             fn=lambda p, q, x: jax.lax.cond(p, lambda x: jax.lax.cond(q, jax.numpy.tanh, lambda x: x * 3, x),
                                             lambda x: x + 1, x),
             inputs=[(), (), ("B", 3)], input_dtypes=[np.bool_, np.bool_, np.float32],
             input_values=lambda rng, shapes: [shapes[2][0] != 4, shapes[2][0] == 2, rng.standard_normal(shapes[2])],
             dim_sizes=(2, 3, 4)),
    Testcase("cond_in_scan",
             fn=lambda ps, xs: jax.lax.scan(
                 lambda c, px: (jax.lax.cond(px[0], lambda: c * px[1], lambda: c + px[1]), c),
                 jax.numpy.ones(xs.shape[1:], xs.dtype), (ps, xs)),
             inputs=[("B",), ("B", 3)], input_dtypes=[np.bool_, np.float32]),
    Testcase("switch_vmap_batched_index", fn=lambda i, x: jax.vmap(lambda i, x: jax.lax.switch(
                 i, [jax.numpy.tanh, lambda x: x * 2, lambda x: x + 1], x))(i, x),
             inputs=[("B",), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [rng.integers(-1, 4, shapes[0]), rng.standard_normal(shapes[1])]),
    Testcase("switch_three_way",
             fn=lambda i, x: [jax.lax.switch(i + k, [jax.numpy.tanh, lambda x: x * 2, lambda x: x + 1], x)
                              for k in (-1, 0, 1, 2, 3)],
             inputs=[(), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [rng.integers(0, 3), rng.standard_normal(shapes[1])]),
    Testcase("switch_in_scan",
             fn=lambda idx, xs: jax.lax.scan(
                 lambda c, ix: (jax.lax.switch(ix[0], [lambda: c * ix[1], lambda: c + ix[1],
                                                       lambda: jax.numpy.tanh(c)]), c),
                 jax.numpy.ones(xs.shape[1:], xs.dtype), (idx, xs)),
             inputs=[("B",), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [rng.integers(-1, 4, shapes[0]), rng.standard_normal(shapes[1])],
             dim_sizes=(3, 9)),
]

SCAN_CASES = [
    Testcase("scan_carry_and_ys", fn=lambda c, xs: jax.lax.scan(lambda c, x: (c + x, c * x), c, xs),
             inputs=[(3,), ("B", 3)], check_model=_rolled("Loop")),
    Testcase("scan_reverse", fn=lambda c, xs: jax.lax.scan(lambda c, x: (c + x, c * x), c, xs, reverse=True),
             inputs=[(3,), ("B", 3)], check_model=_rolled("Loop")),
    Testcase("scan_without_xs", fn=lambda x: jax.lax.scan(lambda c, _: (c * 0.5 + 1, c), x, None, length=7),
             inputs=[("B", 3)], check_model=_rolled("Loop")),
    Testcase("scan_length_expression", fn=lambda c, xs: jax.lax.scan(
                 lambda c, x: (c * x + 1, c), c, xs.reshape(-1, 3), reverse=True),
             inputs=[(3,), ("B", 2, 3)]),
    Testcase("scan_ys_only", fn=lambda xs: jax.lax.scan(lambda c, x: (c, (jax.numpy.tanh(x), x * 2)), None, xs),
             inputs=[("B", 2, 3)]),
    Testcase("scan_lax_map", fn=lambda w, xs: jax.lax.map(lambda x: jax.numpy.tanh(x @ w), xs),
             inputs=[(3, 4), ("B", 2, 3)], check_model=_rolled("Loop")),
    Testcase("scan_pytrees",
             fn=lambda a, b, xs, ys: jax.lax.scan(
                 lambda c, v: ({"a": c["a"] + v[0], "b": c["b"] * v[1]}, (c["a"] * c["b"], v[0] - v[1])),
                 {"a": a, "b": b}, (xs, ys), reverse=True),
             inputs=[("B",), ("B",), ("T", "B"), ("T", "B")]),
    Testcase("scan_consts", fn=lambda x, xs: jax.lax.scan(
                 lambda c, v: (c * x + v * np.arange(3, dtype=np.float32), c), x, xs),
             inputs=[(3,), ("B", 3)]),
    Testcase("scan_rnn", fn=lambda w, u, xs: _rnn(w, u, xs), inputs=[(4, 4), (3, 4), ("T", "B", 3)],
             check_model=_rolled("Loop")),
    Testcase("scan_rnn_reverse", fn=lambda w, u, xs: _rnn(w, u, xs, reverse=True),
             inputs=[(4, 4), (3, 4), ("T", "B", 3)]),
    Testcase("scan_symbolic_shapes_in_body", fn=lambda c, xs: jax.lax.scan(
                 lambda c, x: ((c.reshape(-1) * 0.5).reshape(c.shape) + x[:, None], jax.numpy.zeros_like(c) + x.sum()),
                 c, xs),
             inputs=[("B", 3), ("T", "B")]),
    Testcase("scan_while_in_body", fn=lambda xs: jax.lax.scan(
                 lambda c, x: (jax.lax.while_loop(lambda v: jax.numpy.sum(v) < 20.0, lambda v: v * 2 + x, c), c),
                 jax.numpy.ones(xs.shape[1:], xs.dtype), xs),
             inputs=[("B", 3)], input_values=lambda rng, shapes: [rng.random(shapes[0]) + 0.1]),
    Testcase("scan_nested", fn=lambda xs: _nested_scan(xs), inputs=[("B", 4, 3)], check_model=_rolled("Loop")),
    Testcase("scan_unroll", factory=lambda: _scan_unrolled(6), inputs=[("B", 3)],
             check_model=_rolled("Loop", 1, lambda: _scan_unrolled(20), [("B", 3)])),
    Testcase("scan_grad", fn=jax.grad(lambda c, xs: jax.numpy.sum(
                 jax.lax.scan(lambda c, x: (jax.numpy.tanh(c * x), c * x), c, xs)[1]), argnums=(0, 1)),
             inputs=[(3,), ("B", 3)]),
    Testcase("scan_embedding_lookup", fn=lambda table, tokens: jax.lax.scan(
                 lambda h, t: (jax.numpy.tanh(h * 0.5 + jax.numpy.asarray(table)[t]), h), table[0], tokens),
             inputs=[(7, 3), ("B",)], input_dtypes=[np.float32, np.int32],
             input_values=lambda rng, shapes: [rng.standard_normal(shapes[0]), rng.integers(0, 7, shapes[1])]),
    Testcase("scan_gather_rows", fn=lambda table, rows: jax.lax.scan(
                 lambda h, r: (h + jax.numpy.take(table, r, axis=0).sum(0), h), table[0], rows),
             inputs=[(7, 3), ("B", 2)], input_dtypes=[np.float32, np.int32],
             input_values=lambda rng, shapes: [rng.standard_normal(shapes[0]), rng.integers(0, 7, shapes[1])]),
    Testcase("fori_scatter_add", fn=lambda x: jax.lax.fori_loop(
                 0, 4, lambda i, acc: acc.at[3 - i].add(jax.numpy.asarray(x)[i] * 2 + acc[i]), jax.numpy.ones_like(x)),
             inputs=[(4, "B")], check_model=_rolled("Loop"), min_opset=16,
             min_opset_reason="ScatterND reduction='add'; no older op combines updates to the same index"),
    Testcase("scan_dynamic_update_slice", fn=lambda xs: jax.lax.scan(
                 lambda acc, ix: (jax.lax.dynamic_update_index_in_dim(acc, ix[1] * 3, ix[0], 0), acc.sum()),
                 jax.numpy.zeros_like(xs), (jax.numpy.arange(xs.shape[0])[::-1], xs)),
             inputs=[("B", 3)]),
    Testcase("fori_static_trip_count", factory=lambda: _fori_static(5), inputs=[("B", 3)],
             check_model=_rolled("Loop", 1, lambda: _fori_static(40), [("B", 3)])),
]

WHILE_CASES = [
    Testcase("while_counter",
             fn=lambda n, x: jax.lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 0.5 + x), (0, x)),
             inputs=[(), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [shapes[1][0] - 2, rng.standard_normal(shapes[1])],
             check_model=_rolled("Loop")),
    Testcase("while_data_dependent",
             fn=lambda x: jax.lax.while_loop(lambda c: jax.numpy.max(c) < 100.0, lambda c: c * 2 + 1, x),
             inputs=[("B", 3)], input_values=lambda rng, shapes: [rng.random(shapes[0])]),
    Testcase("fori_dynamic_trip_count",
             fn=lambda n, x: jax.lax.fori_loop(0, n, lambda i, c: c * x + i.astype(x.dtype), x),
             inputs=[(), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [rng.integers(0, 6), rng.standard_normal(shapes[1])]),
    Testcase("while_vmap_batched_predicate", fn=lambda n, x: jax.vmap(
                 lambda n, x: jax.lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 2 + 1), (0, x)))(n, x),
             inputs=[("B",), ("B", 3)], input_dtypes=[np.int32, np.float32],
             input_values=lambda rng, shapes: [rng.integers(0, 5, shapes[0]), rng.standard_normal(shapes[1])],
             check_model=_rolled("Loop")),
    Testcase("while_in_cond", fn=lambda p, x: jax.lax.cond(
                 p, lambda x: jax.lax.while_loop(lambda c: jax.numpy.sum(c) < 50.0, lambda c: c * 2 + 0.5, x),
                 jax.numpy.tanh, x),
             inputs=[(), ("B", 3)], input_dtypes=[np.bool_, np.float32], input_values=_branch_by_size),
    Testcase("fori_symbolic_trip_count", fn=lambda x: jax.lax.fori_loop(0, x.shape[0], lambda i, c: c * 0.5 + x, x),
             inputs=[("B", 3)]),
]


def _custom_jvp_tanh():
    @jax.custom_jvp
    def f(x):
        return jax.numpy.tanh(x) * 2

    f.defjvp(lambda primals, tangents: (f(primals[0]), tangents[0]))
    return f


def _custom_vjp_tanh():
    @jax.custom_vjp
    def f(x):
        return jax.numpy.tanh(x) + x

    f.defvjp(lambda x: (f(x), x), lambda x, g: (g,))
    return f


def _named_scope(x):
    with jax.named_scope("block"):
        return jax.numpy.tanh(x) * 2


def _select(ctx: LoweringContext, index, branches, operands, offset=0):
    """Runs ``branches[index - offset]`` as a chain of nested Ifs; out of range runs the last, as in XLA."""
    out_avals = branches[0].out_avals
    rest = branches[1:]

    def then_branch(c: LoweringContext):
        return c.lower_jaxpr(branches[0], *operands)

    def else_branch(c: LoweringContext):
        if len(rest) == 1:
            return c.lower_jaxpr(rest[0], *operands)
        return _select(c, index, rest, operands, offset + 1)

    taken = ctx.op.Equal(index, ctx.const(np.array(offset, dtype=ctx.in_avals[0].dtype)))
    outs = ctx.op.If(taken, then_branch=ctx.subgraph(then_branch, [], "then"),
                     else_branch=ctx.subgraph(else_branch, [], "else"), _outputs=len(out_avals))
    return _typed(_outputs(outs), out_avals)


@lowering("cond", component="jax.lax.cond", onnx=["If", "Equal"], since="0.1.0", doc=LAX_DOC.format("cond"),
          testcases=COND_CASES)
def lower_cond(ctx: LoweringContext, index, *operands, branches, **params):
    known = ctx.const_value(index)
    if known is not None:
        # A constant index (lax.platform_dependent) needs no If.
        return ctx.lower_jaxpr(branches[int(known) if 0 <= known < len(branches) else -1], *operands)
    return _select(ctx, index, branches, operands)


@lowering("platform_index", component="jax.lax.platform_dependent", onnx=[], since="0.1.0",
          doc=LAX_DOC.format("platform_dependent"),
          testcases=[Testcase("cond_platform_dependent", fn=lambda x: jax.lax.platform_dependent(
              x, cpu=jax.numpy.tanh, default=lambda x: x * 2), inputs=[("B", 3)], expect_ops=["Tanh"]),
                     Testcase("cond_platform_default", fn=lambda x: jax.lax.platform_dependent(
              x, tpu=jax.numpy.tanh, default=lambda x: x * 2), inputs=[("B", 3)], expect_ops=["Mul"])])
def lower_platform_index(ctx: LoweringContext, *, platforms):
    """ONNX Runtime stands in for the CPU: the 'cpu' branch if there is one, else the default."""
    cpu = [i for i, names in enumerate(platforms) if names is not None and "cpu" in names]
    default = [i for i, names in enumerate(platforms) if names is None]
    if not cpu + default:
        raise ctx.fail("lax.platform_dependent has no 'cpu' branch and no default one")
    return ctx.const(np.array((cpu + default)[0], dtype=np.int32))


def _trip_count(ctx: LoweringContext, length) -> ir.Value:
    """The scalar int64 trip count of a Loop, read from the input shapes when symbolic."""
    if isinstance(length, int):
        return ctx.const(np.array(length, dtype=np.int64))
    return ctx.op.Squeeze(ctx.dim(length), ctx.const(np.array([0], dtype=np.int64)))


@lowering("scan", component="jax.lax.scan", onnx=["Loop", "Gather", "Slice"], since="0.1.0",
          doc=LAX_DOC.format("scan"), testcases=SCAN_CASES)
def lower_scan(ctx: LoweringContext, *args, jaxpr, length, reverse, num_consts, num_carry, **params):
    consts, init, xs = args[:num_consts], args[num_consts:num_consts + num_carry], args[num_consts + num_carry:]
    trip = _trip_count(ctx, length)
    last = ctx.op.Sub(trip, ctx.const(np.array(1, dtype=np.int64))) if reverse else None

    def body(c: LoweringContext, iteration, keep_going, *carry):
        # A reverse scan reads xs from the end; ``unroll`` only changes XLA's schedule.
        step = c.op.Sub(last, iteration) if reverse else iteration
        x_slices = _typed([c.op.Gather(x, step, axis=0) for x in xs], jaxpr.in_avals[num_consts + num_carry:])
        return [keep_going, *c.lower_jaxpr(jaxpr, *consts, *carry, *x_slices)]

    graph = ctx.subgraph(body, ctx.in_avals[num_consts:num_consts + num_carry], "scan_body", LOOP_INPUTS)
    loop = ctx.op.Loop(trip, ctx.const(np.True_), *init, body=graph, _outputs=len(ctx.out_avals))
    outs = _typed(_outputs(loop), ctx.out_avals)
    if reverse:
        # Loop stacks ys in iteration order; JAX's ys[i] belongs to xs[i].
        flip = [ctx.const(np.array([v], dtype=np.int64)) for v in (-1, np.iinfo(np.int64).min, 0, -1)]
        outs[num_carry:] = [ctx.op.Slice(y, *flip) for y in outs[num_carry:]]
    return outs


def _any(ctx: LoweringContext, pred) -> ir.Value:
    """A bool scalar: whether any element of ``pred`` is true (ReduceMax takes bool only from opset 20)."""
    flags = ctx.op.ReduceMax(ctx.op.Cast(pred, to=ir.DataType.INT32), keepdims=0)
    out = ctx.op.Cast(flags, to=ir.DataType.BOOL)
    out.type, out.shape = tensor_type(np.bool_, ())
    return out


def _keep_finished(ctx: LoweringContext, pred, batch_rank, new, old, aval) -> ir.Value:
    """``new`` where ``pred`` (over the leading ``batch_rank`` axes) holds, else ``old``."""
    trailing = np.arange(batch_rank, len(aval.shape), dtype=np.int64)
    if trailing.size:
        pred = ctx.op.Unsqueeze(pred, ctx.const(trailing))
    return _typed([ctx.op.Where(pred, new, old)], [aval])[0]


@lowering("while", component="jax.lax.while_loop", onnx=["Loop"], since="0.1.0",
          doc=LAX_DOC.format("while_loop"), testcases=WHILE_CASES)
def lower_while(ctx: LoweringContext, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    split = cond_nconsts + body_nconsts
    cond_consts, body_consts, init = args[:cond_nconsts], args[cond_nconsts:split], list(args[split:])
    state_avals = ctx.in_avals[split:]
    # Under vmap the predicate is batched: loop while any element runs; finished ones keep their state,
    # so the Loop also carries the batched predicate.
    batch_rank = len(cond_jaxpr.out_avals[0].shape)

    def body(c: LoweringContext, iteration, keep_going, *carry):
        pred, state = (carry[0], carry[1:]) if batch_rank else (None, carry)
        new = c.lower_jaxpr(body_jaxpr, *body_consts, *state)
        if batch_rank:
            new = [_keep_finished(c, pred, batch_rank, n, o, a) for n, o, a in zip(new, state, state_avals)]
        pred = c.lower_jaxpr(cond_jaxpr, *cond_consts, *new)[0]
        return [_any(c, pred), pred, *new] if batch_rank else [pred, *new]

    # The condition is checked before the first iteration and at the end of each.
    first = ctx.lower_jaxpr(cond_jaxpr, *cond_consts, *init)[0]
    if not batch_rank:
        graph = ctx.subgraph(body, state_avals, "while_body", LOOP_INPUTS)
        return ctx.op.Loop(None, first, *init, body=graph, _outputs=len(init))
    graph = ctx.subgraph(body, [cond_jaxpr.out_avals[0], *state_avals], "while_body", LOOP_INPUTS)
    return ctx.op.Loop(None, _any(ctx, first), first, *init, body=graph, _outputs=len(init) + 1)[1:]


@lowering("optimization_barrier", component="jax.lax.optimization_barrier", onnx=[], since="0.1.0",
          doc=LAX_DOC.format("optimization_barrier"),
          testcases=[Testcase("optimization_barrier_pair", fn=lambda x: jax.lax.optimization_barrier((x * 2, x + 1)),
                              inputs=[("B", 3)], expect_ops=["Mul", "Add"])])
def lower_optimization_barrier(ctx: LoweringContext, *operands):
    return operands


@lowering("name", component="jax.ad_checkpoint.checkpoint_name", onnx=[], since="0.1.0",
          doc="https://docs.jax.dev/en/latest/gradient-checkpointing.html",
          testcases=[Testcase("remat_checkpoint_name", fn=lambda x: jax.checkpoint(
              lambda y: jax.ad_checkpoint.checkpoint_name(jax.numpy.tanh(y), "h") * 2,
              policy=jax.checkpoint_policies.save_only_these_names("h"))(x), inputs=[("B", 3)],
              expect_ops=["Tanh", "Mul"])])
def lower_checkpoint_name(ctx: LoweringContext, x, *, name):
    return x


coverage("jax.checkpoint", via=["remat2"], since="0.1.0",
         doc="https://docs.jax.dev/en/latest/_autosummary/jax.checkpoint.html", module=__name__,
         testcases=[Testcase("remat_checkpoint", fn=lambda x: jax.checkpoint(lambda y: jax.numpy.tanh(y) * y)(x) + 1,
                             inputs=[("B", 3)]),
                    Testcase("remat_in_scan", fn=lambda xs: jax.lax.scan(
                        jax.checkpoint(lambda c, x: (c * x + 1, c)), jax.numpy.ones(xs.shape[1:], xs.dtype), xs),
                             inputs=[("B", 3)])])
coverage("jax.custom_jvp", via=["custom_jvp_call"], since="0.1.0",
         doc="https://docs.jax.dev/en/latest/_autosummary/jax.custom_jvp.html", module=__name__,
         testcases=[Testcase("custom_jvp_function", factory=lambda: lambda x: _custom_jvp_tanh()(x) + 1,
                             inputs=[("B", 3)])])
coverage("jax.custom_vjp", via=["custom_vjp_call"], since="0.1.0",
         doc="https://docs.jax.dev/en/latest/_autosummary/jax.custom_vjp.html", module=__name__,
         testcases=[Testcase("custom_vjp_function", factory=lambda: lambda x: _custom_vjp_tanh()(x) * 3,
                             inputs=[("B", 3)])])
coverage("jax.jit", via=["jit"], since="0.1.0", doc="https://docs.jax.dev/en/latest/_autosummary/jax.jit.html",
         module=__name__,
         testcases=[Testcase("jit_nested", fn=lambda x: jax.jit(lambda y: jax.jit(jax.numpy.tanh)(y) * 2)(x) + x,
                             inputs=[("B", 3)])])
coverage("jax.named_scope", via=[], since="0.1.0",
         doc="https://docs.jax.dev/en/latest/_autosummary/jax.named_scope.html", module=__name__,
         testcases=[Testcase("named_scope_block", fn=lambda x: _named_scope(x), inputs=[("B", 3)],
                             expect_ops=["Tanh", "Mul"])])
