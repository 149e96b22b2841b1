"""The documentation site, built with ``mkdocs build --strict`` and opened in a real browser.

The site is built once for the module into a temporary folder and served by
``http.server`` on 127.0.0.1; headless Chromium (Debian's ``chromium``)
loads pages and dumps the DOM after its scripts ran. The tests need
Chromium: they skip without it (``apt-get install chromium``), except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def chromium() -> str:
    """The Chromium executable: skip without one, except under CI=true (fail)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").is_file():
        found = "/usr/bin/chromium"
    if found is not None:
        return found
    reason = "needs Chromium for the docs site check: apt-get install chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves the built site without logging each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing."""


@pytest.fixture(scope="module")
def browser() -> str:
    return chromium()


@pytest.fixture(scope="module")
def site(browser: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build the site (strict) and serve it; yield its base URL."""
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def dump_dom(browser: str, url: str, profile: Path) -> str:
    """The page's DOM after load, as headless Chromium serialises it."""
    loaded = subprocess.run(
        [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    return loaded.stdout


class Elements(HTMLParser):
    """Collects each element's tag and attributes, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(dom: str) -> Elements:
    parser = Elements()
    parser.feed(dom)
    parser.close()
    return parser


def search_boxes(page: Elements) -> list[dict[str, str | None]]:
    return [
        attrs
        for tag, attrs in page.elements
        if tag == "input" and attrs.get("data-md-component") == "search-query"
    ]


def test_index_page_has_the_search_box_and_the_guides(
    browser: str, site: str, tmp_path: Path
) -> None:
    page = parse(dump_dom(browser, site, tmp_path))
    [box] = search_boxes(page)
    assert box.get("type") == "text"
    assert box.get("placeholder") == "Search"
    links = {attrs.get("href") for tag, attrs in page.elements if tag == "a"}
    assert {"tutorial/", "reference/"} <= links
    assert "An embeddable, fully typed Python SDK" in " ".join(page.text)


def test_api_page_shows_campaignkit_generated_from_its_docstring(
    browser: str, site: str, tmp_path: Path
) -> None:
    page = parse(dump_dom(browser, f"{site}reference/kit/", tmp_path))
    assert search_boxes(page)
    ids = {attrs.get("id") for _, attrs in page.elements}
    assert {"campaignkit.kit.CampaignKit", "campaignkit.kit.CampaignKit.as_user"} <= ids
    text = " ".join(page.text)
    assert "CampaignKit" in text
    assert "Act as" in text
    assert ":class:" not in text  # docs/hooks/sphinx_roles.py shows Sphinx roles as code
    assert ":meth:" not in text


def test_search_index_knows_the_api_names(site: str) -> None:
    with urllib.request.urlopen(f"{site}search/search_index.json", timeout=10) as answer:
        index = json.load(answer)
    locations = {document["location"] for document in index["docs"]}
    assert "reference/kit/#campaignkit.kit.CampaignKit" in locations
    assert "tutorial/" in locations
