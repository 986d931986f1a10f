"""The exception hierarchy: every error jax2onnx raises on purpose is a Jax2OnnxError."""

from __future__ import annotations

import difflib


class Jax2OnnxError(Exception):
    """Root of every error raised by jax2onnx."""


class InputSpecError(Jax2OnnxError, ValueError):
    """An input spec (shape, dtype, symbolic dim) could not be understood."""


class ExportOptionError(Jax2OnnxError, ValueError):
    """An option passed to to_onnx/save_onnx/allclose is invalid."""


class UnknownOptionError(ExportOptionError, TypeError):
    """A keyword option that to_onnx/save_onnx/allclose do not take (a TypeError too, as Python's own)."""

    def __init__(self, function: str, unknown: str, accepted: list[str]):
        self.function, self.unknown, self.accepted = function, unknown, accepted
        close = difflib.get_close_matches(unknown, accepted, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        super().__init__(
            f"{function}() got an unknown option {unknown!r}.{hint} Accepted options: {', '.join(accepted)}.")


class TraceError(Jax2OnnxError):
    """JAX could not trace the function with the given input specs."""


class OutputSpecError(TraceError):
    """The function returned something that is not an array (a string, an object)."""


class UnsupportedPrimitiveError(Jax2OnnxError):
    """No installed plugin lowers a JAX primitive (or a named call) used by the function.

    ``missing`` maps every primitive of the function without a lowering (not just the first met)
    to the user's lines that use it.
    """

    def __init__(self, primitive: str, source: str, searched: list[str],
                 missing: dict[str, list[str]] | None = None):
        self.primitive = primitive
        self.source = source
        self.searched = searched
        self.missing = dict(missing or {primitive: [source]})
        packages = ", ".join(searched) if searched else "none installed"
        lines = [f"No lowering for JAX primitive '{primitive}' (used at {source})."]
        if set(self.missing) != {primitive} or len(self.missing[primitive]) > 1:
            lines.append(f"Every primitive of the function without a lowering ({len(self.missing)}):")
            for name, uses in sorted(self.missing.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                shown = ", ".join(dict.fromkeys(uses[:3]))
                more = f", and {len(uses) - 3} more" if len(uses) > 3 else ""
                lines.append(f"  {name} x{len(uses)} (at {shown}{more})")
        lines.append(f"Plugin packages searched: {packages}.")
        if not any(name.startswith("jax2onnx-plugins-lax") for name in searched):
            lines.append("jax.numpy and jax.lax primitives are lowered by 'jax2onnx-plugins-lax': "
                         "pip install jax2onnx-plugins-lax.")
        lines.append("Install a plugin package that lowers it, or write one: see the plugin guide "
                     "(a distribution registering the 'jax2onnx.plugins' entry-point group).")
        super().__init__("\n".join(lines))


class UnsupportedDtypeError(Jax2OnnxError):
    """A lowering does not support the dtype it was given."""


class LoweringError(Jax2OnnxError):
    """A lowering rule failed or rejected its parameters."""


class OpsetError(LoweringError):
    """The function needs an ONNX op (or an op's form) newer than the opset the model targets."""

    def __init__(self, what: str, needed: int, opset: int, where: str):
        self.what, self.needed, self.opset = what, needed, opset
        super().__init__(
            f"{where}: {what} needs opset {needed}, the model targets opset {opset} and no older form "
            f"computes the same. Export with opset={needed} or higher.")


class PluginLoadError(Jax2OnnxError):
    """A plugin package or one of its modules could not be imported."""


class PluginLoadWarning(UserWarning):
    """A plugin package failed to load at discovery; exports go on without it."""


class PluginConflictError(Jax2OnnxError):
    """Two plugin packages claim the same target with the same priority."""


class GraphPassError(Jax2OnnxError):
    """A clean-up pass failed on the lowered graph: a bug in jax2onnx, not in the user's code."""

    def __init__(self, pass_name: str, cause: BaseException):
        self.pass_name = pass_name
        super().__init__(
            f"graph pass {pass_name} failed: {type(cause).__name__}: {cause}\n"
            "This is a bug in jax2onnx: please report it with the function being exported.")
