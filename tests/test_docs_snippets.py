"""Every code block the README, the package READMEs and the docs show runs, or names what it needs.

Python blocks run in a fresh process per page, in page order and one namespace (a page reads like
a notebook), in an empty directory. The names the docs take as given (``my_model``, the user's
model) are defined by ``GIVEN``. A block preceded by ``<!-- not run: reason -->`` (a signature
listing, say) is left out, with its reason. Shell blocks are checked without running them (they
install packages or run the whole suite): every file, folder and hatch script they name exists.
"""

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("packages/*/README.md")])
BLOCK = re.compile(r"(?:<!-- not run: (?P<reason>[^>]+?) -->\s*\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S)

# What the docs take as given: the quickstart's model, and a model class of the reader's own.
GIVEN = """
from flax import nnx
from jax2onnx_examples.mlp import MLP as MyModel
my_model = MyModel(30, 20, 10, rngs=nnx.Rngs(0))
_MyModel = MyModel
MyModel = lambda rngs: _MyModel(30, 20, 10, rngs=rngs)
"""


def _blocks(page: Path, lang: str) -> list[str]:
    return [m["code"] for m in BLOCK.finditer(page.read_text()) if m["lang"] == lang and not m["reason"]]


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p, "python")], ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path):
    script = GIVEN + "\n".join(f"# --- block {i}\n{code}" for i, code in enumerate(_blocks(page, "python")))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, f"{page.name}:\n{result.stderr[-3000:]}"


def _scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["envs"]["default"]["scripts"])


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p, "bash")], ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_blocks_name_what_exists(page):
    for code in _blocks(page, "bash"):
        for line in code.splitlines():
            line = line.split("#", 1)[0].strip()
            for command in filter(None, (c.strip() for c in re.split(r"&&|;", line))):
                words = shlex.split(command)
                if words[:2] == ["hatch", "run"]:
                    assert words[2] in _scripts(), f"{page.name}: `{command}`: no hatch script {words[2]!r}"
                for flag, path in zip(words, words[1:]):
                    if flag in ("-r", "-e") and not path.startswith(("http", "git+")):
                        target = ROOT / path.split("[")[0]
                        assert target.exists(), f"{page.name}: `{command}` names {path}, which does not exist"
                if words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):
                    assert (ROOT / words[1]).exists(), f"{page.name}: `{command}`: no {words[1]}"
