"""The workspace's own tooling: hatch scripts and requirements-dev.txt describe one environment."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> tuple[dict[str, set[str]], set[str]]:
    editable, tools = {}, set()
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-e "):
            match = re.fullmatch(r"-e (\S+?)(?:\[(.*)\])?", line)
            editable[match.group(1)] = set(filter(None, (match.group(2) or "").split(",")))
        elif line:
            tools.add(line)
    return editable, tools


def test_hatch_workspace_matches_requirements_dev():
    env = PYPROJECT["tool"]["hatch"]["envs"]["default"]
    members = {}
    for member in env["workspace"]["members"]:
        member = member if isinstance(member, dict) else {"path": member}
        members[member["path"]] = set(member.get("features", ()))
    editable, tools = _requirements()
    assert members == editable
    groups = PYPROJECT["dependency-groups"]
    assert set().union(*(groups[g] for g in env["dependency-groups"])) == tools


def test_every_hatch_run_the_docs_name_is_a_workspace_script():
    scripts = PYPROJECT["tool"]["hatch"]["envs"]["default"]["scripts"]
    texts = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("packages/*/README.md")]
    named = {m for path in texts for m in re.findall(r"hatch run ([\w-]+)", path.read_text())}
    assert named, "the README names the workspace scripts"
    assert named <= set(scripts), f"not defined: {named - set(scripts)}"
