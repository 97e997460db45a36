"""Serve the built site on 127.0.0.1 and drive Debian's Chromium with Playwright.

Every request that does not go to the local server is aborted, so a page that needs
the network to work fails these tests. The site is served twice: at the server's root,
and below a path prefix as GitHub Pages serves a project page
(``https://OWNER.github.io/REPO/``). Under the prefix nothing outside it exists, so a
page that asks for a root-absolute path (``/_static/...``) gets a 404 and fails.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
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


#: Served gzip-compressed when the browser accepts it, as GitHub Pages serves them; the
#: page-weight budgets are bytes transferred, so they are measured the same way here.
COMPRESSED = {".html", ".js", ".css", ".json", ".svg", ".txt", ".map", ".md", ".ipynb"}


@functools.lru_cache(maxsize=512)
def _gzipped(path: str, mtime: float) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves SITE below ``prefix`` only; any other path is a 404."""

    prefix = ""
    #: seconds to hold each response whose URL path ends with one of these suffixes
    delays: ClassVar[dict[str, float]] = {}

    def do_GET(self) -> None:
        bare = urlparse(self.path).path
        for suffix, seconds in self.delays.items():
            if bare.endswith(suffix):
                time.sleep(seconds)
        path = Path(self.translate_path(self.path))
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts and path.is_file() and path.suffix in COMPRESSED):
            super().do_GET()
            return
        body = _gzipped(str(path), path.stat().st_mtime)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
def serve(prefix: str = "", delays: dict[str, float] | None = None) -> Iterator[str]:
    """Serve the built site on a free port; yield its base URL (without a final /).

    ``delays`` holds responses whose path ends with a key for that many seconds (a slow
    network for one file).
    """
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run ./scripts/build-book first")
    handler_class = type("Handler", (_SiteHandler,), {"prefix": prefix, "delays": delays or {}})
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

    def __init__(
        self,
        browser: Browser,
        url: str,
        block: tuple[str, ...] = (),
        viewport: tuple[int, int] = (1280, 900),
    ) -> None:
        width, height = viewport
        self.context = browser.new_context(viewport={"width": width, "height": height})
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
