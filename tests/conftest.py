"""Shared fixtures, and failures seen only on JAX 0.11+ (Python 3.12+), listed with their reasons until fixed.

Each such failure is an xfail that is strict: once it passes there, the run fails and the entry must go.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import pytest

# Most of a kit case's time is XLA compiling the JAX reference, and the op13 and op23 cases of a
# testcase compile the same programs. A persistent compilation cache shared by the run's workers
# (and, through JAX's own environment variables, by the subprocesses tests start) compiles each
# program once: about 40% of the kit's time. A cache hit returns the executable that compiling
# would, so no result changes. The folder is the run's own, removed at the end.
_OWN_XLA_CACHE = None
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    _OWN_XLA_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jax2onnx-tests-xla-")
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")))
jax.config.update("jax_persistent_cache_min_entry_size_bytes",
                  int(os.environ.get("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")))


def pytest_unconfigure(config):
    if _OWN_XLA_CACHE and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(_OWN_XLA_CACHE, ignore_errors=True)


NEWER_JAX = tuple(int(p) for p in jax.__version__.split(".")[:2]) >= (0, 11)

KNOWN_ON_NEWER_JAX = {
    "tests/test_equinox.py::test_vmapped_block_native_ops_and_module_path_names":
        "JAX 0.12 name stacks: nodes are not yet named after the module path (ops and numbers match)",
    "tests/test_nnx.py::test_mlp_graph_and_initializer_names":
        "JAX 0.12 name stacks: nodes are not yet named after the module path (ops and numbers match)",
}


def pytest_collection_modifyitems(items):
    if not NEWER_JAX:
        return
    for item in items:
        reason = KNOWN_ON_NEWER_JAX.get(item.nodeid)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


ROOT = Path(__file__).parent.parent
MKDOCS = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
DOCS_SITE_URL = "https://example.org/jax2onnx/"  # where the built site says it is served (its Netron links)
# Testcases run through the kit before the build, as `hatch run docs` runs them all: their results
# become badges and their saved models Netron links, on the coverage and the examples page.
DOCS_CASES = [("jax2onnx-plugins-lax", "add"), ("jax2onnx-examples", "example_mlp")]


@dataclasses.dataclass
class DocsSite:
    path: Path  # the built site
    url: str  # its site_url
    returncode: int  # of `mkdocs build --strict`
    log: str  # its output


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory) -> DocsSite:
    """The docs site built once per test run, with real test results and saved models.

    Under pytest-xdist each worker would build it again (the build is among the slowest tests), so
    the first worker to ask builds it in the run's shared temporary folder and the others wait for it.
    """
    if not os.path.exists(MKDOCS):
        pytest.skip("mkdocs is not installed")
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by this run's workers, new for each run
    done, failed = base / "docs-site.json", base / "docs-site.failed"
    try:
        os.close(os.open(base / "docs-site.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        deadline = time.monotonic() + 1800
        while not done.exists():
            if failed.exists():
                pytest.fail(f"building the docs site failed in another worker:\n{failed.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail("another worker has been building the docs site for 30 minutes")
            time.sleep(0.5)
    else:
        try:
            result = _build_docs_site(base / "docs-site")
        except BaseException as exc:
            failed.write_text(f"{type(exc).__name__}: {exc}")
            raise
        done.with_suffix(".tmp").write_text(json.dumps(result))
        done.with_suffix(".tmp").replace(done)
    result = json.loads(done.read_text())
    return DocsSite(Path(result["path"]), DOCS_SITE_URL, result["returncode"], result["log"])


def _build_docs_site(folder: Path) -> dict:
    from jax2onnx.testing.kit import collect_cases, run_case

    folder.mkdir(parents=True, exist_ok=True)
    models, results = folder / "models", {}
    os.environ["JAX2ONNX_SAVE_MODELS"] = str(models)
    try:
        for distribution, name in DOCS_CASES:
            case = next(c for c in collect_cases(distribution, opsets=[23]) if c.testcase.name == name and not c.double)
            run_case(case)
            results[f"{case.lowering.component}::{case.id}"] = "passed"
    finally:
        del os.environ["JAX2ONNX_SAVE_MODELS"]
    (folder / "results.json").write_text(json.dumps(results))
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", JAX2ONNX_TEST_RESULTS=str(folder / "results.json"),
               JAX2ONNX_MODELS_DIR=str(models), JAX2ONNX_SITE_URL=DOCS_SITE_URL)
    site = folder / "site"
    build = subprocess.run([MKDOCS, "build", "--strict", "-q", "-d", str(site)], cwd=ROOT,
                           capture_output=True, text=True, env=env)
    return {"path": str(site), "returncode": build.returncode, "log": build.stdout + build.stderr}
