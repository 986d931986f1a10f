"""Graph clean-up after lowering: the exported model should be as small as a hand-written one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common

from .errors import GraphPassError

# Ops whose result on constant inputs is exact data movement or integer/shape arithmetic, so
# folding them at export time cannot change numerics (Cast is exact too: ONNX defines it).
FOLDABLE = {
    "Transpose", "Reshape", "Cast", "Unsqueeze", "Squeeze", "Concat", "Slice", "Gather", "Expand",
    "Identity", "Flatten", "Tile", "Neg", "Range",
}
INTEGER_FOLDABLE = {"Add", "Sub", "Mul", "Div", "Mod", "Max", "Min"}
FOLD_SIZE_LIMIT = 1 << 22
# A constant larger than this that other nodes read too is not folded: the folded copy would store
# its bytes a second time (a tied embedding's transpose); ONNX Runtime folds it when it loads the model.
SHARED_FOLD_LIMIT = 1 << 10


class FoldConstantsPass(ir.passes.InPlacePass):
    """Replaces data-movement nodes on constant inputs (a kernel's Transpose, a bias's Reshape) by constants."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        graph = model.graph
        for node in list(graph):
            # A graph output keeps its producer: the output's name and type stay on a node.
            if node.domain or not self._foldable(node) or any(o.is_graph_output() for o in node.outputs):
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
        if any(v is not None and v.const_value.nbytes > SHARED_FOLD_LIMIT and any(u.node is not node for u in v.uses())
               for v in node.inputs):
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
                if out.is_graph_output() and not _can_become_output(source, graph):
                    continue  # a graph input or output cannot also take this output's name
                if out.is_graph_output():
                    source.type, source.shape = out.type, out.shape  # a graph output must be typed
                ir.convenience.replace_all_uses_with(out, source, replace_graph_outputs=True)
                graph.remove(node, safe=True)
                if source.is_graph_output():
                    _rename(out, source)  # the output keeps its name
            else:
                node.replace_input_with(0, source)
                node.attributes["perm"] = ir.AttrInt64s("perm", perm)
            modified = True
        return ir.passes.PassResult(model, modified)


# Ops computing each output element from the same element of every (broadcast) input: a Transpose
# of their inputs is a Transpose of their output.
ELEMENTWISE = {
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "Ceil", "Celu", "Cos", "Cosh", "Elu",
    "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish",
    "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus",
    "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Max",
    "Min", "Mean", "Sum", "And", "Or", "Xor", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "Mod", "PRelu", "Where",
}


class PushTransposesPass(ir.passes.InPlacePass):
    """Elementwise(Transpose(x), ...) becomes Transpose(Elementwise(x, ...)).

    Moving a Transpose below elementwise ops (activations, a bias Add, a residual Add of two
    equally transposed tensors) brings it next to the next Transpose, where MergeTransposesPass
    composes or cancels the pair: NHWC conv stacks, and NCHW model boundaries around them, lose
    every Transpose. Constant operands are transposed once at export time; size-1 operands need
    nothing.
    """

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        graph = model.graph
        names = _NameSource(graph)
        node_names = {n.name for n in graph}
        modified = False
        for node in list(graph):
            if node.graph is graph and node.op_type in ELEMENTWISE and not node.domain:
                modified |= self._push(graph, node, names, node_names)
        return ir.passes.PassResult(model, modified)

    @staticmethod
    def _push(graph: ir.Graph, node: ir.Node, names: _NameSource, node_names: set) -> bool:
        out = node.outputs[0]
        if len(node.outputs) != 1 or out.shape is None or out.is_graph_output():
            return False
        rank = len(out.shape)
        transposes = [v.producer() for v in node.inputs if _single_use_transpose(v, graph)]
        perms = {tuple(t.attributes["perm"].as_ints()) for t in transposes}
        if len(perms) != 1 or any(len(t.outputs[0].shape or ()) != rank for t in transposes):
            return False
        perm = list(perms.pop())
        inverse = [int(i) for i in np.argsort(perm)]
        inputs = []
        for value in node.inputs:
            if value is None or value.producer() in transposes:
                inputs.append(value if value is None else value.producer().inputs[0])
            elif value.shape is not None and all(d == 1 for d in value.shape) and len(value.shape) <= rank:
                inputs.append(value)
            elif value.const_value is not None and len(value.shape) <= rank:
                array = value.const_value.numpy()
                array = np.transpose(array.reshape((1,) * (rank - array.ndim) + array.shape), inverse)
                const = ir.Value(name=names.fresh(value.name), type=value.type, shape=ir.Shape(array.shape),
                                 const_value=ir.tensor(np.ascontiguousarray(array)))
                graph.register_initializer(const)
                inputs.append(const)
            else:
                return False
        attributes = [ir.Attr(a.name, a.type, a.value) for a in node.attributes.values()]
        moved = ir.Node("", node.op_type, inputs, attributes, name=node.name,
                        metadata_props=dict(node.metadata_props) or None)
        inner = moved.outputs[0]
        inner.name, inner.type = names.fresh(out.name or "value"), out.type
        inner.shape = ir.Shape([out.shape[i] for i in inverse])
        # A node pushed through twice (in two rounds of the passes) must not name two Transposes alike.
        name, count = f"{node.name or node.op_type}/transpose", 1
        while name in node_names:
            name, count = f"{node.name or node.op_type}/transpose_{count}", count + 1
        node_names.add(name)
        transpose = ir.Node("", "Transpose", [inner], [ir.AttrInt64s("perm", perm)], name=name)
        result = transpose.outputs[0]
        result.type, result.shape = out.type, out.shape
        graph.insert_before(node, [moved, transpose])
        ir.convenience.replace_all_uses_with(out, result)
        graph.remove(node, safe=True)
        _rename(out, result)
        for old in transposes:
            if not old.outputs[0].uses():
                graph.remove(old, safe=True)
        return True


def _single_use_transpose(value: ir.Value | None, graph: ir.Graph) -> bool:
    node = value.producer() if value is not None else None
    return (node is not None and node.op_type == "Transpose" and not node.domain and node.graph is graph
            and len(value.uses()) == 1 and not value.is_graph_output())


def _can_become_output(value: ir.Value, graph: ir.Graph) -> bool:
    return (value.producer() is not None and value.producer().graph is graph and not value.is_graph_output()
            and not value.is_graph_input())


class _NameSource:
    """Fresh value names that no value of the graph uses."""

    def __init__(self, graph: ir.Graph):
        self.used = {v.name for n in graph for v in (*n.inputs, *n.outputs) if v is not None}
        self.used |= {v.name for v in graph.inputs} | set(graph.initializers)

    def fresh(self, hint: str) -> str:
        name, k = hint, 0
        while name in self.used:
            k += 1
            name = f"{hint}_t{k}"
        self.used.add(name)
        return name


def _rename(old: ir.Value, new: ir.Value) -> ir.Value:
    name = old.name
    old.name = None
    new.name = name
    return new


def _evaluate(node: ir.Node, values: list) -> list[np.ndarray] | None:
    from onnx.reference import ReferenceEvaluator  # noqa: PLC0415 - a heavy import, needed only to fold

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


class DeduplicateInitializersPass(ir.passes.InPlacePass):
    """One initializer for equal weights: the same array read twice, or equal bytes.

    Candidates are grouped by dtype, shape and a small sample of their bytes, so distinct weights
    (which differ in the sample) are never read in full; only equal-looking ones are compared.
    """

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        for graph in model.graphs():
            groups: dict[tuple, list[tuple[ir.Value, np.ndarray]]] = defaultdict(list)
            for value in list(graph.initializers.values()):
                if value.const_value is None or value.is_graph_input() or value.is_graph_output():
                    continue
                data = _flat_bytes(value.const_value)
                key = (value.const_value.dtype, tuple(value.const_value.shape.numpy()), _sample(data))
                same = next((k for k, k_data in groups[key] if np.array_equal(k_data, data)), None)
                if same is None:
                    groups[key].append((value, data))
                    continue
                value.replace_all_uses_with(same)
                graph.initializers.pop(value.name)
                modified = True
        return ir.passes.PassResult(model, modified)


def _flat_bytes(tensor: ir.TensorProtocol) -> np.ndarray:
    """The tensor's bytes as a uint8 array, a view where the data already is contiguous."""
    if tensor.dtype.is_string():
        return np.frombuffer(np.array(tensor.string_data()).tobytes(), np.uint8)
    array = tensor.numpy()
    if array.flags.c_contiguous and array.dtype.kind in "biuf":
        return array.reshape(-1).view(np.uint8)
    return np.frombuffer(tensor.tobytes(), np.uint8)


def _sample(data: np.ndarray) -> bytes:
    """A few hundred bytes from the start, the end and evenly in between."""
    if data.size <= 512:
        return data.tobytes()
    return data[:128].tobytes() + data[-128:].tobytes() + data[:: data.size // 256 + 1].tobytes()


class BodyOutputsPass(ir.passes.InPlacePass):
    """A control-flow body's outputs are produced in it: IdentityElimination can leave an outer value there."""

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        modified = False
        for node in ir.traversal.RecursiveGraphIterator(model.graph):
            for attr in node.attributes.values():
                if attr.type == ir.AttributeType.GRAPH:
                    bodies = [attr.value]
                elif attr.type == ir.AttributeType.GRAPHS:
                    bodies = list(attr.value)
                else:
                    continue
                for body in bodies:
                    modified |= _own_outputs(body)
        return ir.passes.PassResult(model, modified)


def _own_outputs(body: ir.Graph) -> bool:
    modified = False
    for i, out in enumerate(body.outputs):
        producer = out.producer()
        if (producer is None and out in body.inputs) or (producer is not None and producer.graph is body):
            continue
        identity = ir.node("Identity", [out])
        copy = identity.outputs[0]
        copy.name, copy.type, copy.shape = f"{out.name}_in_{body.name}", out.type, out.shape
        body.append(identity)
        body.outputs[i] = copy
        modified = True
    return modified


def clean(model: ir.Model) -> ir.Model:
    """Transposes pushed down and merged, folding of data movement, dead code, duplicates, CSE, Identity."""
    for _ in range(8):  # each round moves Transposes past a run of elementwise ops; a handful settles
        rounds = [_guarded(p, model) for p in (PushTransposesPass(), MergeTransposesPass())]
        if not any(r.modified for r in rounds):
            break
    return run_passes(model, (
        DeduplicateInitializersPass(),
        common.CommonSubexpressionEliminationPass(),  # two reads of one weight then fold once, not into two copies
        FoldConstantsPass(),
        DeduplicateInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
        common.IdentityEliminationPass(),
        BodyOutputsPass(),
        common.RemoveUnusedNodesPass(),
        common.RemoveUnusedFunctionsPass(),
        common.RemoveUnusedOpsetsPass(),
    ))


def run_passes(model: ir.Model, graph_passes: Sequence[ir.passes.PassBase]) -> ir.Model:
    """Runs ``graph_passes`` in order; a failure is a GraphPassError naming the pass."""
    for graph_pass in graph_passes:
        model = _guarded(graph_pass, model).model
    return model


def _guarded(graph_pass: ir.passes.PassBase, model: ir.Model) -> ir.passes.PassResult:
    try:
        return graph_pass(model)
    except Exception as exc:
        cause = exc.__cause__ if isinstance(exc, ir.passes.PassError) and exc.__cause__ else exc
        raise GraphPassError(type(graph_pass).__name__, cause) from cause
