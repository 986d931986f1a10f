"""Sets one release version across the distributions of the repository.

    python scripts/set_version.py 0.2.0        # or: hatch run set-version 0.2.0
    python scripts/set_version.py --check      # exit 1 if versions or pins disagree

It writes ``version`` in every ``packages/*/pyproject.toml``, ``jax2onnx.__version__``, and every
pin of one of our distributions on another (``jax2onnx-core>=0.2.0,<0.3``: compatible within a
minor release, as the plugin API promises), in dependencies and extras alike. The changelog's
"Unreleased" heading becomes the version's heading, with a new empty "Unreleased" above it.
The template plugin of the docs is a third party: its pins move to the new minor release range.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
CORE_INIT = PACKAGES / "core" / "src" / "jax2onnx" / "__init__.py"
CHANGELOG = ROOT / "CHANGELOG.md"
TEMPLATE = ROOT / "tests" / "fixtures" / "template_plugin" / "pyproject.toml"

VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:(a|b|rc)\d+)?$")
# A pin of one of our distributions: "jax2onnx-core>=0.1.0,<0.2" (extras allowed: "jax2onnx-core[testing]>=...").
PIN = re.compile(r'"(jax2onnx-[a-z-]+(?:\[[a-z,]+\])?)>=([0-9.]+[a-z0-9]*),<([0-9.]+)"')


def pyprojects(root: Path = ROOT) -> list[Path]:
    return sorted((root / "packages").glob("*/pyproject.toml"))


def next_minor(version: str) -> str:
    major, minor = VERSION.match(version).groups()[:2]  # type: ignore[union-attr]
    return f"{major}.{int(minor) + 1}"


def set_version(version: str, root: Path = ROOT) -> list[Path]:
    """Writes ``version`` everywhere; returns the files changed."""
    if not VERSION.match(version):
        raise SystemExit(f"set_version: {version!r} is not a release version (X.Y.Z, optionally aN/bN/rcN)")
    upper = next_minor(version)
    minor = ".".join(version.split(".")[:2])
    edits = {path: _pins(_field(path.read_text(), "version", version), version, upper) for path in pyprojects(root)}
    init = root / CORE_INIT.relative_to(ROOT)
    edits[init] = re.sub(r'^__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text(), flags=re.M)
    template = root / TEMPLATE.relative_to(ROOT)
    if template.exists():
        edits[template] = _pins(template.read_text(), minor, upper)
    changelog = root / CHANGELOG.relative_to(ROOT)
    if changelog.exists():
        text = changelog.read_text()
        if f"## {version}\n" not in text:
            text = text.replace("## Unreleased\n", f"## Unreleased\n\n## {version}\n", 1)
        edits[changelog] = text
    changed = [path for path, text in edits.items() if path.read_text() != text]
    for path in changed:
        path.write_text(edits[path])
    return changed


def _field(text: str, name: str, value: str) -> str:
    return re.sub(rf'^{name} = "[^"]*"', f'{name} = "{value}"', text, count=1, flags=re.M)


def _pins(text: str, lower: str, upper: str) -> str:
    return PIN.sub(lambda m: f'"{m.group(1)}>={lower},<{upper}"', text)


def problems(root: Path = ROOT) -> list[str]:
    """Where versions or pins disagree with core's version."""
    init = (root / CORE_INIT.relative_to(ROOT)).read_text()
    version = re.search(r'^__version__ = "([^"]*)"', init, re.M).group(1)  # type: ignore[union-attr]
    upper, found = next_minor(version), []
    for path in pyprojects(root):
        text = path.read_text()
        declared = re.search(r'^version = "([^"]*)"', text, re.M).group(1)  # type: ignore[union-attr]
        if declared != version:
            found.append(f"{path.relative_to(root)}: version {declared}, core says {version}")
        for name, low, high in PIN.findall(text):
            if (low, high) != (version, upper):
                found.append(f"{path.relative_to(root)}: {name}>={low},<{high}, expected >={version},<{upper}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="the release version, X.Y.Z")
    parser.add_argument("--check", action="store_true", help="only report disagreeing versions and pins")
    args = parser.parse_args(argv)
    if args.check or not args.version:
        found = problems()
        print("\n".join(found) if found else "versions and pins agree")
        return 1 if found else 0
    for path in set_version(args.version):
        print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
