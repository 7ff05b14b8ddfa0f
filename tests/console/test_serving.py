"""How the sidecar serves the console: the page, its assets, their caching, and nothing from elsewhere."""

from __future__ import annotations

import re

import httpx
import pytest

from jobpulse.sidecar.console.assets import AssetBundle

# Whatever would make the page reach another host: absolute URLs in the markup, styles or scripts.
FOREIGN_URL = re.compile(rb"""(?:src|href|url|import|from)\s*[=(]?\s*['"]?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def page(console_sidecar) -> httpx.Response:
    return console_sidecar.get("/")


def asset_paths(page: httpx.Response) -> list[str]:
    return re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)


def test_the_page_is_served_at_the_root_with_a_strict_policy(page):
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-cache"
    assert not re.search(r"<script(?![^>]*\ssrc=)", page.text), "no inline script"
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page.text), "no inline event handler"
    assert 'data-heartbeat-window-s="60.0"' in page.text


def test_assets_are_named_by_their_content_and_cached_for_good(console_sidecar, page):
    paths = asset_paths(page)
    assert {path.rsplit("/", 1)[-1] for path in paths} == {"icon.svg", "console.css", "main.js"}
    bundle = AssetBundle.from_package()
    assert all(path.startswith(f"{bundle.base}/") for path in paths)
    for path in paths:
        answer = console_sidecar.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert console_sidecar.get(f"{bundle.base}/js/main.js").headers["content-type"] == "text/javascript; charset=utf-8"
    stale = console_sidecar.get("/console/0123456789abcdef/js/main.js")
    assert stale.status_code == 404 and "0123456789abcdef" in stale.json()["detail"]
    assert console_sidecar.get(f"{bundle.base}/js/nothing.js").status_code == 404
    # Only the bundle's files: not the page's template, nothing beside the static folder.
    assert console_sidecar.get(f"{bundle.base}/index.html").status_code == 404
    assert console_sidecar.get(f"{bundle.base}/..%2Fassets.py").status_code == 404


def test_no_console_file_refers_to_another_host(page):
    bundle = AssetBundle.from_package()
    offenders = [path for path in bundle.paths() if FOREIGN_URL.search(bundle.get(path).body)]
    assert offenders == []
    assert not FOREIGN_URL.search(page.content)


def test_the_api_description_is_json_only(console_sidecar):
    assert console_sidecar.get("/schema/openapi.json").json()["info"]["title"] == "jobpulse sidecar"
    root = console_sidecar.get("/schema")
    assert root.status_code == 200 and root.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    for viewer in ("swagger", "redoc", "elements", "rapidoc"):
        assert console_sidecar.get(f"/schema/{viewer}").status_code == 404, viewer
    paths = console_sidecar.get("/schema/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/console") for path in paths)


def test_a_bundle_refuses_files_it_cannot_serve():
    with pytest.raises(ValueError, match=r"no known media type: notes\.txt"):
        AssetBundle({"index.html": b"", "notes.txt": b""})
    with pytest.raises(ValueError, match=r"no index\.html"):
        AssetBundle({"app.js": b""})
    first = AssetBundle({"index.html": b"<html {{settings}}>{{assets}}", "app.js": b"1"})
    assert AssetBundle({"index.html": b"<html {{settings}}>{{assets}}", "app.js": b"2"}).digest != first.digest
    assert (
        first.page({"window_s": '"><script>'})
        == f'<html data-window-s="&quot;&gt;&lt;script&gt;">{first.base}'.encode()
    )
