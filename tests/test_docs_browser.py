"""The built docs site in a real browser: headless Chromium, driven by Playwright, over HTTP.

The site is the one tests/test_docs.py checks (the shared ``docs_site`` fixture builds it once),
served from a local port. Chromium comes from the system (``apt-get install chromium`` on Debian,
or ``JAX2ONNX_CHROMIUM=/path/to/chrome``); its absence fails the test with how to install it.
Screenshots of the coverage and examples pages go to ``JAX2ONNX_SCREENSHOTS`` (a folder) or, without
it, to pytest's temporary folder; the path is printed.
"""

import functools
import http.server
import os
import shutil
import threading
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import onnx
import pytest

from jax2onnx.registry import get_registry

# Chromium on a closed network: no background connections (refused there), no sandbox (CI runs as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NETRON = "https://netron.app/?url="
# Chromium fails to capture much taller pages ("Unable to capture screenshot"); the coverage page
# is about 50,000 pixels tall, so its screenshot shows the first tables.
SCREENSHOT_HEIGHT = 16_000


@pytest.fixture(scope="session", autouse=True)
def chromium() -> str:
    """The browser's executable, looked for first: without it the test fails before the site is built."""
    found = os.environ.get("JAX2ONNX_CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if not found or not os.path.exists(found):
        pytest.fail("the browser test of the docs site needs Chromium: `apt-get install chromium` (Debian, "
                    "Ubuntu: chromium-browser), or set JAX2ONNX_CHROMIUM to a Chrome or Chromium executable")
    return found


@contextmanager
def _serve(folder: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def served(docs_site):
    assert docs_site.returncode == 0, docs_site.log
    with _serve(docs_site.path) as base:
        yield base


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("JAX2ONNX_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _screenshot(page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    width, height = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": min(height, SCREENSHOT_HEIGHT)})
    assert path.stat().st_size > 10_000, f"{path}: an empty screenshot"
    print(f"screenshot: {path}")


def test_coverage_tables_render(page, served, screenshots):
    page.goto(served + "coverage/")
    rows = page.locator("article table tbody tr")
    expected = [r for r in get_registry().all_lowerings() if r.distribution != "jax2onnx-examples"]
    assert rows.count() == len(expected), "one table row per component of every installed plugin but the examples"
    add = page.locator("article table tbody tr", has=page.locator("code", has_text="jax.lax.add")).first
    badge = add.locator(f"a[href^='{NETRON}']", has_text="✅23")
    assert badge.count() == 1 and badge.is_visible(), add.inner_html()
    assert page.locator("article table tbody tr td", has_text="➖23").count() > 0  # testcases not run here
    _screenshot(page, screenshots, "coverage")


def test_examples_table_renders(page, served, screenshots):
    page.goto(served + "examples/")
    rows = page.locator("article table tbody tr")
    examples = [r for r in get_registry().all_lowerings() if r.distribution == "jax2onnx-examples"]
    assert rows.count() == len(examples)
    mlp = page.locator("article table tbody tr", has=page.locator("code", has_text="mlp")).first
    assert mlp.locator(f"a[href^='{NETRON}']", has_text="✅23").is_visible(), mlp.inner_html()
    _screenshot(page, screenshots, "examples")


def test_search_finds_dot_general(page, served):
    page.goto(served)
    page.locator("input.md-search__input").fill("dot_general")
    result = page.locator(".md-search-result__item").first
    result.wait_for(timeout=30_000)
    assert "dot_general" in page.locator(".md-search-result").inner_text()


@pytest.mark.parametrize("name", ["coverage", "examples"])
def test_every_netron_link_opens_a_model_of_the_site(page, served, docs_site, name):
    page.goto(served + name + "/")
    links = page.eval_on_selector_all(f"a[href^='{NETRON}']", "links => links.map(a => a.href)")
    assert links, f"no Netron link on the {name} page"
    for link in links:
        model_url = urllib.parse.unquote(link.removeprefix(NETRON))
        assert model_url.startswith(docs_site.url), f"{link} points outside the site ({docs_site.url})"
        relative = model_url.removeprefix(docs_site.url)
        assert (docs_site.path / relative).is_file(), f"{link}: {relative} is not in the built site"
        response = page.request.get(served + relative)  # as Netron fetches it, from the served site
        assert response.ok, f"{link}: HTTP {response.status}"
        onnx.checker.check_model(onnx.load_from_string(response.body()), full_check=True)
