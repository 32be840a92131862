"""Responses shared by every route: errors with a code and a message, and HTML-or-JSON."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from paperfeed.settings import Settings
from paperfeed.store import Store


def app_store(request: Request) -> Store:
    """The app's :class:`Store`."""
    store: Store = request.app.state.store
    return store


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def whole_number(raw: str, low: int, high: int) -> int | None:
    """``raw`` as a number from ``low`` to ``high``, else None. ASCII digits only: ``isdigit``
    passes ``²``, which ``int`` refuses, and a few thousand digits are too many for ``int``."""
    if raw.isascii() and raw.isdigit() and len(raw) < 10 and low <= int(raw) <= high:
        return int(raw)
    return None


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


# -- what the OpenAPI document says about these answers -----------------------------------

Answers = dict[int | str, dict[str, Any]]
HTML = {"text/html": {"schema": {"type": "string"}}}


class ErrorDetail(BaseModel):
    code: str = Field(description="For programs: bad_request, login_required, not_found …")
    message: str = Field(description="For people: what went wrong and what to do")
    links: dict[str, str] = Field(
        default_factory=dict, description="Where to go on (name: path); only when there are some"
    )


class ErrorBody(BaseModel):
    """Every error the site answers (see :func:`error_response`)."""

    error: ErrorDetail


# Every route's client errors, as one range; that also keeps FastAPI from documenting its 422,
# which this app never answers (a parameter that does not validate is a 400).
ERROR_RESPONSES: Answers = {
    "4XX": {
        "model": ErrorBody,
        "description": (
            "An error, as JSON under /api/ or with Accept: application/json, else as an HTML "
            "page: 400 a bad parameter or body, 401 not logged in or a bad API token, "
            "403 not allowed (or a form without its CSRF token), 404 nothing here, "
            "409 a conflict, 429 too many requests (see Retry-After)."
        ),
        "content": HTML,
    }
}

PAGE: Answers = {
    200: {
        "description": "The page, or its data as JSON with Accept: application/json",
        "content": HTML,
    }
}


def redirect(status: int, description: str) -> dict[str, Any]:
    """The route options of a route that answers with a redirect (to ``**`` into it)."""
    return {
        "status_code": status,
        "response_class": RedirectResponse,
        "response_description": f"{description} (Location)",
    }


SEE_OTHER = redirect(303, "On to the next page")


def form_again(*statuses: int) -> Answers:
    """The form shown again, saying what to fix, at ``statuses`` (its data as JSON with
    Accept: application/json; some of these statuses may also be an error of any route)."""
    answer = {
        "description": "The form again, saying what to fix",
        "content": {**HTML, "application/json": {"schema": {}}},
    }
    return {status: answer for status in statuses}


def document(media_type: str, description: str) -> dict[str, Any]:
    """The route options of a route that answers a document of ``media_type`` (Atom, BibTeX,
    Markdown), not JSON (to ``**`` into it)."""
    content = {media_type: {"schema": {"type": "string"}}}
    return {
        "response_class": Response,
        "responses": {200: {"description": description, "content": content}},
    }
