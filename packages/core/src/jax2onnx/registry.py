"""Plugin discovery through the ``jax2onnx.plugins`` entry-point group, with lazy rule imports."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
import warnings
from collections.abc import Iterable

from .errors import ExportOptionError, PluginConflictError, PluginLoadError, PluginLoadWarning
from .plugin import CALL_PREFIX, COMPLEX_PREFIX, Lowering, PluginIndex, registered_in

ENTRY_POINT_GROUP = "jax2onnx.plugins"


class Registry:
    """Which installed distribution lowers which target; imports a rule module on first use."""

    def __init__(self, indexes: Iterable[PluginIndex], broken: dict[str, str] | None = None):
        self.indexes = list(indexes)
        self.broken = dict(broken or {})
        self.disabled: list[str] = []  # packages left out by disable_plugins / the environment variable
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
        return ([i.distribution for i in self.indexes] + [f"{d} (failed to load)" for d in self.broken]
                + [f"{d} (disabled)" for d in self.disabled])

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
    skipped = _disabled_by_environment()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = ep.dist.name if ep.dist is not None else ep.name
        _entry_point_names[name] = ep.name
        if {name, ep.name} & skipped:
            continue  # not even imported: disabling is how a user gets past a plugin that breaks on import
        try:
            index = ep.load()
            if callable(index) and not isinstance(index, PluginIndex):
                index = index()
            if not isinstance(index, PluginIndex):
                raise TypeError(f"entry point {ep.value!r} is not a jax2onnx.plugin.PluginIndex")
        except Exception as exc:
            broken[name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(PluginLoadWarning(
                f"jax2onnx: plugin package '{name}' (entry point '{ep.name}') failed to load: {broken[name]}. "
                f"Exports go on without it. Reinstall or upgrade '{name}', or disable it with "
                f"JAX2ONNX_DISABLE_PLUGINS={ep.name}."), stacklevel=2)
            continue
        indexes.append(index)
    return Registry(indexes + _extra, broken)


def get_registry(disabled: frozenset[str] = frozenset()) -> Registry:
    """The installed plugins; without those ``disabled`` names (see :func:`disabled_plugins`)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = discover()
        if not disabled:
            return _registry
        if disabled not in _without:
            _without[disabled] = _without_plugins(_registry, disabled)
        return _without[disabled]


def refresh() -> Registry:
    """Forgets what was discovered (after installing or removing a plugin package)."""
    global _registry
    with _lock:
        _registry = None
        _without.clear()
    importlib.invalidate_caches()
    return get_registry()


def add_index(index: PluginIndex) -> None:
    """Registers an index in-process, without an installed distribution (tests, notebooks)."""
    _extra.append(index)
    refresh()


def remove_index(index: PluginIndex) -> None:
    """Undoes :func:`add_index`."""
    _extra.remove(index)
    refresh()


# Disabling plugins: by distribution name ("jax2onnx-plugins-nnx") or entry-point name ("nnx").
DISABLE_ENVIRONMENT_VARIABLE = "JAX2ONNX_DISABLE_PLUGINS"
_entry_point_names: dict[str, str] = {}  # distribution -> its entry point's name, filled by discover()
_without: dict[frozenset[str], Registry] = {}


def _disabled_by_environment() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENVIRONMENT_VARIABLE, "").split(",") if n.strip()}


def disabled_plugins(names: Iterable[str] | None = None) -> frozenset[str]:
    """The distributions to leave out: ``names`` (an export option) plus those in ``JAX2ONNX_DISABLE_PLUGINS``.

    A name that is no installed plugin's is an error for the option; from the environment it only
    warns (the variable may be set for environments that do have the package).
    """
    if isinstance(names, str):
        raise ExportOptionError(f"disable_plugins={names!r}: give a list of names, such as [{names!r}]")
    registry = get_registry()
    known = {i.distribution: i.distribution for i in registry.indexes} | {d: d for d in registry.broken}
    known |= {d: d for d in _entry_point_names} | {e: d for d, e in _entry_point_names.items()}
    chosen = set()
    for name, from_option in [(n, True) for n in names or ()] + [(n, False) for n in _disabled_by_environment()]:
        if name in known:
            chosen.add(known[name])
            continue
        message = (f"no installed plugin package is called {name!r}; installed: "
                   f"{', '.join(sorted(f'{d} ({_entry_point_names.get(d, d)})' for d in set(known.values())))}")
        if from_option:
            raise ExportOptionError(f"disable_plugins: {message}")
        warnings.warn(f"{DISABLE_ENVIRONMENT_VARIABLE}: {message}", stacklevel=3)
    return frozenset(chosen)


def _without_plugins(registry: Registry, disabled: frozenset[str]) -> Registry:
    filtered = Registry([i for i in registry.indexes if i.distribution not in disabled],
                        {d: why for d, why in registry.broken.items() if d not in disabled})
    filtered.disabled = sorted(disabled)
    return filtered
