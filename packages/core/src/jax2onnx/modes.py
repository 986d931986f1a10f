"""Training vs inference mode of the exported model (the ``training`` option of ``to_onnx``).

An ONNX export is almost always an inference artifact, so modules export as after
``model.eval()`` (Flax NNX) or ``eqx.nn.inference_mode(model)`` (Equinox) unless asked
otherwise. The mode is set on the copy of the model that the export rebuilds inside its trace,
never on the user's object. Libraries are recognised only when the user has imported them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .errors import ExportOptionError

TRAINING_MODES = ("eval", "preserve", "train")
logger = logging.getLogger("jax2onnx")

# NNX's Dropout/BatchNorm (and layers holding them) read these attributes; eval() sets both True.
_NNX_FLAGS = ("deterministic", "use_running_average")


def check(training: str) -> None:
    if training not in TRAINING_MODES:
        raise ExportOptionError(
            f"training={training!r}: use 'eval' (inference behaviour, the default), 'preserve' (the "
            "model's current mode) or 'train'")


def training_parts(model: Any) -> list[str]:
    """Names of the submodules of ``model`` that are in training mode (empty for a plain function)."""
    nnx = _module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return [_path(path) or type(node).__name__ for path, node in nnx.iter_graph(model)
                if isinstance(node, nnx.Module) and any(getattr(node, f, None) is False for f in _NNX_FLAGS)]
    eqx = _module("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        import jax

        def switchable(x: Any) -> bool:
            return isinstance(x, eqx.Module) and hasattr(x, "inference")

        nodes = jax.tree_util.tree_leaves(model, is_leaf=switchable)
        return [type(n).__name__ for n in nodes if switchable(n) and n.inference is False]
    return []


def apply(model: Any, training: str) -> Any:
    """``model`` (a copy the export owns) switched to the requested mode; other callables unchanged."""
    if training == "preserve":
        return model
    inference = training == "eval"
    nnx = _module("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        model.set_attributes(**dict.fromkeys(_NNX_FLAGS, inference), raise_if_not_found=False)
        return model
    eqx = _module("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        return eqx.nn.inference_mode(model, value=inference)
    return model


def announce(model: Any, training: str) -> None:
    """Says once when the default switched a model that was in training mode."""
    if training != "eval":
        return
    parts = training_parts(model)
    if parts:
        shown = ", ".join(parts[:4]) + (", …" if len(parts) > 4 else "")
        logger.warning(
            "jax2onnx: exporting %s in inference mode (was in training mode: %s). Pass training='preserve' "
            "to export its current mode, or training='train'.", type(model).__name__, shown)


def _module(name: str) -> Any:
    return sys.modules.get(name)


def _path(path: tuple) -> str:
    return ".".join(str(p) for p in path)
