"""The page and its modules come from the installed package, with a strict content policy."""

from __future__ import annotations

import re

from logriver.viewer.calls import VIEWER_API_CALLS, match_call


async def test_the_viewer_page_and_modules_are_served(api):
    page = await api.http.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<script type="module" src="/viewer/js/main.js">' in await page.text()
    module = await api.http.get("/viewer/js/main.js")
    assert module.status == 200
    assert "javascript" in module.content_type


async def test_every_declared_viewer_call_is_a_route_of_the_app(api):
    routes = {
        (route.method, route.resource.canonical) for route in api.http.app.router.routes() if route.resource is not None
    }
    missing = [call for call in VIEWER_API_CALLS if call not in routes]
    assert not missing, f"VIEWER_API_CALLS names calls the app does not serve: {missing}"
    assert match_call("GET", "/api/v1/lines/0123abc/context") == ("GET", "/api/v1/lines/{line_id}/context")
    assert match_call("GET", "/api/v1/lines/0123abc") is None
    assert match_call("POST", "/api/v1/lines") is None


async def test_every_viewer_call_is_described_in_the_openapi_document(api):
    response = await api.http.get("/api/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()

    def shape(template: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", template)

    described = {(method.upper(), shape(path)) for path, item in spec["paths"].items() for method in item}
    missing = [call for call in VIEWER_API_CALLS if (call[0], shape(call[1])) not in described]
    assert not missing, f"the viewer makes calls the OpenAPI description lacks: {missing}"
