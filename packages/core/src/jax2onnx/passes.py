"""Graph clean-up after lowering: the exported model should be as small as a hand-written one."""

from __future__ import annotations

import onnx_ir as ir
import onnx_ir.passes.common as common


def clean(model: ir.Model) -> ir.Model:
    """Dead code, duplicate constants and initializers, common subexpressions, stray Identity nodes."""
    passes = ir.passes.Sequential(
        common.DeduplicateHashedInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
        common.IdentityEliminationPass(),
        common.RemoveUnusedNodesPass(),
        common.RemoveUnusedFunctionsPass(),
        common.RemoveUnusedOpsetsPass(),
    )
    return passes(model).model
