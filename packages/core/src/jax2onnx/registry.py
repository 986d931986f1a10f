"""Plugin discovery through the ``jax2onnx.plugins`` entry-point group, with lazy rule imports."""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Iterable

from .errors import PluginConflictError, PluginLoadError
from .plugin import CALL_PREFIX, COMPLEX_PREFIX, Lowering, PluginIndex, registered_in

ENTRY_POINT_GROUP = "jax2onnx.plugins"


class Registry:
    """Which installed distribution lowers which target; imports a rule module on first use."""

    def __init__(self, indexes: Iterable[PluginIndex], broken: dict[str, str] | None = None):
        self.indexes = list(indexes)
        self.broken = dict(broken or {})
        self._owner: dict[str, tuple[PluginIndex, str]] = {}
        self._loaded: dict[str, Lowering] = {}
        for index in self.indexes:
            for module, targets in index.modules.items():
                for target in targets:
                    self._claim(target, index, module)

    def _claim(self, target: str, index: PluginIndex, module: str) -> None:
        current = self._owner.get(target)
        if current is None or index.priority > current[0].priority:
            self._owner[target] = (index, module)
        elif current[0].priority == index.priority:
            raise PluginConflictError(
                f"Both '{current[0].distribution}' ({current[1]}) and '{index.distribution}' "
                f"({module}) lower '{target}' with priority {index.priority}. Uninstall one, "
                "or give one PluginIndex a higher priority to let it win."
            )

    @property
    def searched(self) -> list[str]:
        return [i.distribution for i in self.indexes] + [f"{d} (failed to load)" for d in self.broken]

    def lookup(self, target: str) -> Lowering | None:
        if target in self._loaded:
            return self._loaded[target]
        owner = self._owner.get(target)
        if owner is None:
            return None
        index, module = owner
        entry = next((e for e in _import_rules(index, module) if e.target == target), None)
        if entry is None:
            raise PluginLoadError(
                f"Plugin package '{index.distribution}' lists '{target}' in module '{module}', "
                "but the module registers no rule for it. Report this to the package's authors."
            )
        entry.distribution = index.distribution
        self._loaded[target] = entry
        return entry

    def call_targets(self) -> list[str]:
        """Dotted paths of every named call some installed plugin lowers."""
        return [t[len(CALL_PREFIX):] for t in self._owner if t.startswith(CALL_PREFIX)]

    def complex_targets(self) -> list[str]:
        """Primitives some installed plugin lowers on complex operands."""
        return sorted(t[len(COMPLEX_PREFIX):] for t in self._owner if t.startswith(COMPLEX_PREFIX))

    def all_lowerings(self) -> list[Lowering]:
        """Every row of every installed plugin (imports all rule modules: for docs and tests)."""
        rows: list[Lowering] = []
        for index in self.indexes:
            for module in [*index.modules, *index.coverage_modules]:
                for entry in _import_rules(index, module):
                    entry.distribution = index.distribution
                    owner = self._owner.get(entry.target)
                    if entry.rule is None or (owner and owner[1] == module):
                        rows.append(entry)
        return rows


def _import_rules(index: PluginIndex, module: str) -> list[Lowering]:
    try:
        importlib.import_module(module)
    except Exception as exc:
        raise PluginLoadError(
            f"Plugin package '{index.distribution}' failed to import its module '{module}': "
            f"{type(exc).__name__}: {exc}. Reinstall or upgrade '{index.distribution}'."
        ) from exc
    return registered_in(module)


_lock = threading.Lock()
_registry: Registry | None = None
_extra: list[PluginIndex] = []


def discover() -> Registry:
    """Reads every installed plugin index; a package that fails to load is recorded, not fatal."""
    indexes: list[PluginIndex] = []
    broken: dict[str, str] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = ep.dist.name if ep.dist is not None else ep.name
        try:
            index = ep.load()
            if callable(index) and not isinstance(index, PluginIndex):
                index = index()
            if not isinstance(index, PluginIndex):
                raise TypeError(f"entry point {ep.value!r} is not a jax2onnx.plugin.PluginIndex")
        except Exception as exc:
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        indexes.append(index)
    return Registry(indexes + _extra, broken)


def get_registry() -> Registry:
    global _registry
    with _lock:
        if _registry is None:
            _registry = discover()
        return _registry


def refresh() -> Registry:
    """Forgets what was discovered (after installing or removing a plugin package)."""
    global _registry
    with _lock:
        _registry = None
    importlib.invalidate_caches()
    return get_registry()


def add_index(index: PluginIndex) -> None:
    """Registers an index in-process, without an installed distribution (tests, notebooks)."""
    _extra.append(index)
    refresh()
