"""Static files under content-hashed names, cached for a year; pages, CSS, JS and JSON
compressed with brotli (gzip for clients without it). Over HTTP against a running server."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import httpx
import pytest

from conftest import LiveServer

# Nothing here depends on the database: one backend is enough.
pytestmark = pytest.mark.parametrize("demo_store", ["sqlite"], indirect=True)
STATIC = Path(__file__).resolve().parents[2] / "src" / "paperfeed" / "web" / "static"
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
YEAR = "public, max-age=31536000, immutable"


def raw(live: LiveServer, path: str, encoding: str = "identity") -> tuple[httpx.Headers, bytes]:
    """The headers and the body as sent, not decoded by httpx."""
    with httpx.Client(timeout=30) as client:
        request = client.build_request(
            "GET", live.url + path, headers={"Accept-Encoding": encoding}
        )
        response = client.send(request, stream=True)
        body = b"".join(response.iter_raw())
        response.close()
    return response.headers, body


def test_pages_link_static_files_by_content_hash(live: LiveServer) -> None:
    html = httpx.get(live.url + "/", timeout=30).text
    linked = ASSET.findall(html)
    names = {
        re.sub(r"\.[0-9a-f]{10}(?=\.[a-z]+$)", "", url.removeprefix("/static/")) for url in linked
    }
    assert {"style.css", "htmx-2.0.11.min.js", "favicon.svg"} <= names, linked
    for url in linked:
        name = re.sub(r"\.([0-9a-f]{10})(?=\.[a-z]+$)", "", url.removeprefix("/static/"))
        digest = re.search(r"\.([0-9a-f]{10})\.[a-z]+$", url)
        content = (STATIC / name).read_bytes()
        assert digest and digest.group(1) == hashlib.sha256(content).hexdigest()[:10], url
        response = httpx.get(live.url + url, timeout=30)
        assert response.status_code == 200 and response.content == content, url
        assert response.headers["cache-control"] == YEAR, url


def test_plain_and_stale_names_are_revalidated(live: LiveServer) -> None:
    plain = httpx.get(live.url + "/static/style.css", timeout=30)
    stale = httpx.get(live.url + "/static/style.0123456789.css", timeout=30)
    assert plain.status_code == stale.status_code == 200
    assert plain.content == stale.content == (STATIC / "style.css").read_bytes()
    assert plain.headers["cache-control"] == stale.headers["cache-control"] == "no-cache"
    etag = plain.headers["etag"]
    again = httpx.get(live.url + "/static/style.css", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    assert httpx.get(live.url + "/static/nothing.0123456789.css", timeout=30).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/", "/static/style.css", "/static/htmx-2.0.11.min.js", "/api/v1/feed", "/search?q=glass"],
)
def test_text_answers_are_compressed(live: LiveServer, path: str) -> None:
    plain_headers, plain = raw(live, path)
    assert "content-encoding" not in plain_headers
    br_headers, br = raw(live, path, "gzip, deflate, br")
    assert br_headers["content-encoding"] == "br"
    assert "accept-encoding" in br_headers["vary"].lower()
    decoded = brotli.decompress(br)
    if path.startswith("/static/"):
        assert decoded == plain
    else:  # a page carries a fresh CSRF token each time: the same length, not the same bytes
        assert abs(len(decoded) - len(plain)) < 100
    assert len(br) < len(plain) * 0.6, (len(br), len(plain))
    gz_headers, gz = raw(live, path, "gzip")
    assert gz_headers["content-encoding"] == "gzip"
    assert gzip.decompress(gz)[:200] == decoded[:200] and len(gz) < len(plain) * 0.6
