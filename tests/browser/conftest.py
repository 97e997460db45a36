"""Serve the built site on 127.0.0.1 and drive Debian's Chromium with Playwright.

Every request that does not go to the local server is aborted, so a page that needs
the network to work fails these tests. The site is served twice: at the server's root,
and below a path prefix as GitHub Pages serves a project page
(``https://OWNER.github.io/REPO/``). Under the prefix nothing outside it exists, so a
page that asks for a root-absolute path (``/_static/...``) gets a 404 and fails.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "browser-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


LOAD_TIMEOUT_MS = 90_000

#: The path a project page lives under on GitHub Pages (the repository's name).
PREFIX = "/scaling-lab"


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves SITE below ``prefix`` only; any other path is a 404."""

    prefix = ""

    def translate_path(self, path: str) -> str:
        if self.prefix:
            bare = urlparse(path).path
            if bare != self.prefix and not bare.startswith(self.prefix + "/"):
                return str(SITE / "__outside_the_prefix__")
            path = path[len(self.prefix) :] or "/"
        return super().translate_path(path)

    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A test that closes its page may drop a connection mid-response; that is no
        # fault of the site. Anything else is reported as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(prefix: str = "") -> Iterator[str]:
    """Serve the built site on a free port; yield its base URL (without a final /)."""
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run ./scripts/build-book first")
    handler_class = type("Handler", (_SiteHandler,), {"prefix": prefix})
    handler = functools.partial(handler_class, directory=str(SITE))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session", params=["root", "prefix"])
def site_url(request) -> Iterator[str]:
    """The site at the server root, and again below PREFIX (a GitHub project page)."""
    with serve("" if request.param == "root" else PREFIX) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LoadedPage:
    """A page opened with non-local requests aborted, and the errors it logged."""

    def __init__(self, browser: Browser, url: str, block: tuple[str, ...] = ()) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.aborted: list[str] = []
        self.failed: list[str] = []  # local responses with an HTTP error status
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "response",
            lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        self.page.route("**/*", functools.partial(self._route, block=block))
        # Generous load timeouts: the machines that run these tests are often shared and
        # busy; speed is checked separately (slider updates must take under 200 ms).
        self.page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        self.page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)

    def _route(self, route, request, block: tuple[str, ...]) -> None:
        host = urlparse(request.url).hostname
        if host not in ("127.0.0.1", "localhost") or any(b in request.url for b in block):
            self.aborted.append(request.url)
            route.abort()
        else:
            route.continue_()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_page(browser: Browser, site_url: str):
    opened: list[LoadedPage] = []

    def _open(path: str, block: tuple[str, ...] = ()) -> LoadedPage:
        loaded = LoadedPage(browser, f"{site_url}/{path}", block)
        opened.append(loaded)
        return loaded

    yield _open
    for loaded in opened:
        loaded.close()
