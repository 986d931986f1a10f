"""Recurrent layers and stacked layers: NNX transforms trace to lax.scan / vmapped ops, lowered by lax rules."""

from __future__ import annotations

from flax import nnx

from jax2onnx.plugin import Testcase, coverage

from . import traceable

_DOC = "https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/nn/recurrent.html#flax.nnx.{}"


def _rnn(cell_type, reverse: bool):
    return lambda: traceable(nnx.RNN(cell_type(3, 4, rngs=nnx.Rngs(0)), reverse=reverse, rngs=nnx.Rngs(1)))


# x64=False: the cells' float32 carry cannot take float64 inputs (JAX itself refuses the scan).
for _cell in (nnx.LSTMCell, nnx.OptimizedLSTMCell, nnx.GRUCell, nnx.SimpleCell):
    coverage(f"flax.nnx.RNN({_cell.__name__})", via=["scan"], onnx=["Loop"], since="0.1.0",
             doc=_DOC.format(_cell.__name__),
             testcases=[Testcase(f"rnn_{_cell.__name__.lower()}{suffix}", factory=_rnn(_cell, reverse),
                                 inputs=[("B", 5, 3)], x64=False)
                        for reverse, suffix in ((False, ""), (True, "_reverse"))],
             module=__name__)


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
         testcases=[Testcase("nnx_scan_stacked_layers", factory=lambda: traceable(Stack(4, 3, nnx.Rngs(0))),
                             inputs=[("B", 4)])],
         module=__name__)
coverage("flax.nnx.vmap (stacked layers)", via=["dot_general"], onnx=["MatMul", "Einsum"], since="0.1.0",
         doc="https://flax.readthedocs.io/en/latest/api_reference/flax.nnx/transforms.html",
         testcases=[Testcase("nnx_vmap_stacked_layers", factory=lambda: traceable(VmappedBlocks(4, 3, nnx.Rngs(0))),
                             inputs=[("B", 4)])],
         module=__name__)
