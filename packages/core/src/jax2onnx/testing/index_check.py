"""``check_plugin_index``: a plugin package's index lists exactly what its modules register."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..plugin import PluginIndex, registered_in
from ..registry import get_registry


def check_plugin_index(index: PluginIndex | ModuleType | str) -> None:
    """Imports every module of a plugin index and checks it against what the modules register.

    ``index`` is a :class:`~jax2onnx.plugin.PluginIndex`, the module holding one as
    ``plugin_index``, or the ``distribution`` name of an installed index (found through the
    ``jax2onnx.plugins`` entry points). Raises ``AssertionError`` naming each module whose rules
    differ from its listed targets (a listed target no rule registers fails lookup with
    ``PluginLoadError``; a rule registered but not listed is never found), and each coverage
    module that registers a rule. Call it from your package's tests::

        from jax2onnx.testing import check_plugin_index

        def test_index():
            check_plugin_index("acme-jax2onnx-plugins")
    """
    index = _resolve(index)
    problems = []
    for module, targets in index.modules.items():
        importlib.import_module(module)
        registered = {e.target for e in registered_in(module) if e.rule is not None}
        missing, unlisted = sorted(set(targets) - registered), sorted(registered - set(targets))
        if missing:
            problems.append(f"{module} lists {missing} but registers no rule for them")
        if unlisted:
            problems.append(f"{module} registers {unlisted} but the index does not list them")
    for module in index.coverage_modules:
        importlib.import_module(module)
        rules = sorted(e.target for e in registered_in(module) if e.rule is not None)
        if rules:
            problems.append(f"coverage module {module} registers rules {rules}: list it in `modules`")
    if problems:
        raise AssertionError(f"plugin index of '{index.distribution}' does not match its modules:\n  "
                             + "\n  ".join(problems))


def _resolve(index: PluginIndex | ModuleType | str) -> PluginIndex:
    if isinstance(index, PluginIndex):
        return index
    if isinstance(index, ModuleType):
        found = getattr(index, "plugin_index", None)
        if not isinstance(found, PluginIndex):
            raise TypeError(f"module {index.__name__} has no `plugin_index` PluginIndex")
        return found
    registry = get_registry()
    for found in registry.indexes:
        if found.distribution == index:
            return found
    raise LookupError(f"no installed plugin index is named '{index}' (found: {', '.join(registry.searched)})")
