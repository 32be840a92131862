"""Responses shared by every route: errors with a code and a message, and HTML-or-JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from paperfeed.settings import Settings
from paperfeed.store import Store


def app_store(request: Request) -> Store:
    """The app's :class:`Store`."""
    store: Store = request.app.state.store
    return store


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class PageError(Exception):
    """A 4xx answer with a code and a message for people; ``links`` help them on."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        links: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.links = links or {}
        self.headers = headers or {}


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """The page as HTML, or its data as JSON when the client asks for JSON."""
    if wants_json(request):
        return JSONResponse(data, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, {"data": data}, status_code=status)


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    links: dict[str, str],
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if links:
            body["error"]["links"] = links
        return JSONResponse(body, status_code=status, headers=headers)
    templates: Jinja2Templates = request.app.state.templates
    context = {"data": {"status": status, "code": code, "message": message, "links": links}}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status, headers=headers
    )
