"""Graph clean-up after lowering: the exported model should be as small as a hand-written one."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common
from onnx.reference import ReferenceEvaluator

# Ops whose result on constant inputs is exact data movement or integer/shape arithmetic, so
# folding them at export time cannot change numerics (Cast is exact too: ONNX defines it).
FOLDABLE = {
    "Transpose", "Reshape", "Cast", "Unsqueeze", "Squeeze", "Concat", "Slice", "Gather", "Expand",
    "Identity", "Flatten", "Tile", "Neg", "Range",
}
INTEGER_FOLDABLE = {"Add", "Sub", "Mul", "Div", "Mod", "Max", "Min"}
FOLD_SIZE_LIMIT = 1 << 22


class FoldConstantsPass(ir.passes.InPlacePass):
    """Replaces data-movement nodes on constant inputs (a kernel's Transpose, a bias's Reshape) by constants."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        graph = model.graph
        for node in list(graph):
            if node.domain or not self._foldable(node):
                continue
            values = [v.const_value.numpy() if v is not None else None for v in node.inputs]
            if sum(v.nbytes for v in values if v is not None) > FOLD_SIZE_LIMIT:
                continue
            results = _evaluate(node, values)
            if results is None:
                continue
            source = node.inputs[0]
            folded = []
            for out, result in zip(node.outputs, results):
                tensor = ir.tensor(result)
                const = ir.Value(name=out.name, type=ir.TensorType(tensor.dtype), shape=ir.Shape(result.shape),
                                 const_value=tensor)
                ir.convenience.replace_all_uses_with(out, const)
                if out in graph.outputs:
                    graph.outputs[graph.outputs.index(out)] = const
                folded.append((out, const))
            graph.remove(node, safe=True)
            for out, const in folded:
                graph.register_initializer(_rename(out, const))
            # A transposed or reshaped weight keeps the weight's name when the original is gone.
            if len(folded) == 1 and source is not None and not source.uses() and not source.is_graph_output():
                name = source.name
                graph.initializers.pop(name)
                graph.initializers.pop(folded[0][1].name)
                folded[0][1].name = name
                graph.register_initializer(folded[0][1])
            modified = True
        return ir.passes.PassResult(model, modified)

    @staticmethod
    def _foldable(node: ir.Node) -> bool:
        if any(v is not None and v.const_value is None for v in node.inputs) or not node.inputs:
            return False
        if node.op_type in FOLDABLE:
            return True
        return node.op_type in INTEGER_FOLDABLE and all(
            v.const_value.dtype.is_integer() for v in node.inputs if v is not None)


class MergeTransposesPass(ir.passes.InPlacePass):
    """Transpose(Transpose(x)) becomes one Transpose of x, or x itself when the two cancel.

    Layout-changing rules (an NHWC conv) each wrap their op in Transposes; between two such
    layers the pair cancels.
    """

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        graph = model.graph
        for node in list(graph):
            inner = node.inputs[0].producer() if node.op_type == "Transpose" and not node.domain else None
            if inner is None or inner.op_type != "Transpose" or inner.domain or inner.graph is not graph:
                continue
            outer_perm = list(node.attributes["perm"].as_ints())
            inner_perm = list(inner.attributes["perm"].as_ints())
            perm = [inner_perm[p] for p in outer_perm]
            source, out = inner.inputs[0], node.outputs[0]
            if perm == sorted(perm):
                if out.is_graph_output() and (source.producer() is None or source.is_graph_output()):
                    continue  # an input or another output cannot take the output's name: leave the pair
                ir.convenience.replace_all_uses_with(out, source, replace_graph_outputs=True)
                graph.remove(node, safe=True)
                if source.is_graph_output():
                    _rename(out, source)  # the output keeps its name
            else:
                node.replace_input_with(0, source)
                node.attributes["perm"] = ir.AttrInt64s("perm", perm)
            modified = True
        return ir.passes.PassResult(model, modified)


def _rename(old: ir.Value, new: ir.Value) -> ir.Value:
    name = old.name
    old.name = None
    new.name = name
    return new


def _evaluate(node: ir.Node, values: list) -> list[np.ndarray] | None:
    inputs = [f"i{k}" if v is not None else "" for k, v in enumerate(values)]
    outputs = [f"o{k}" for k in range(len(node.outputs))]
    attrs = {a.name: a.value for a in node.attributes.values()}
    proto = onnx.helper.make_node(node.op_type, inputs, outputs)
    proto.attribute.extend(ir.serde.serialize_attribute(ir.Attr(k, node.attributes[k].type, v))
                           for k, v in attrs.items())
    try:
        feeds = {name: v for name, v in zip(inputs, values) if name}
        return [np.asarray(r, order="C") for r in ReferenceEvaluator(proto).run(None, feeds)]
    except Exception:  # an op the reference cannot run is simply left in the graph
        return None


def clean(model: ir.Model) -> ir.Model:
    """Transpose pairs, constant folding of data movement, dead code, duplicate constants, CSE, Identity."""
    passes = ir.passes.Sequential(
        MergeTransposesPass(),
        FoldConstantsPass(),
        common.DeduplicateHashedInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
        common.IdentityEliminationPass(),
        common.RemoveUnusedNodesPass(),
        common.RemoveUnusedFunctionsPass(),
        common.RemoveUnusedOpsetsPass(),
    )
    return passes(model).model
