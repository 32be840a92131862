"""The application factory: one FastAPI app over one :class:`~paperfeed.store.Store`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from brotli_asgi import BrotliMiddleware
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperfeed import __version__
from paperfeed.community.auth import Accounts
from paperfeed.community.ratelimit import RateLimiter
from paperfeed.community.submit import Submitter
from paperfeed.personal.features import FeatureCache, features_file
from paperfeed.search import Searcher
from paperfeed.settings import Settings
from paperfeed.store import Store

from . import community, digest, hfcompat, personal, present, routes, syndication, topics
from .assets import Assets, HashedStaticFiles
from .auth import browser_middleware, csrf_guard, template_context
from .responses import ERROR_RESPONSES, PageError, error_response

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The site over ``store``; ``clock`` (an aware "now", default the system's) dates the
    arXiv calendar notices."""
    settings = settings or Settings.from_env()
    if store is None:
        store = Store.open(settings.resolved_database_url, pool_size=settings.db_pool_size)
        store.require_current_schema()
    app = FastAPI(
        title=f"{settings.site_name} API",
        version=__version__,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_guard)],
        responses=ERROR_RESPONSES,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.calendar = settings.arxiv_calendar()
    app.state.searcher = Searcher(store, settings=settings)
    # the recommender's, built in the background (or read from the file a build left)
    app.state.features = FeatureCache(store, path=features_file(store, settings.data_dir))
    app.state.clock = clock = clock or (lambda: datetime.now(UTC))

    def utc_now() -> datetime:  # naive UTC, as the database keeps time
        return clock().astimezone(UTC).replace(tzinfo=None)

    app.state.accounts = Accounts(store, settings, utc_now)
    app.state.rate_limiter = RateLimiter(store, settings.rate_limit_rules(), utc_now)
    app.state.submitter = Submitter(store, settings)
    templates = Jinja2Templates(directory=HERE / "templates", context_processors=[template_context])
    templates.env.globals["site_name"] = settings.site_name
    templates.env.filters["tex"] = present.rich_text
    assets = Assets(HERE / "static")
    templates.env.globals["static"] = assets.url
    app.state.templates = templates
    app.mount("/static", HashedStaticFiles(assets), name="static")
    app.include_router(community.router)
    app.include_router(digest.router)
    app.include_router(personal.router)
    app.include_router(syndication.router)  # before routes: /papers/{id}.bib
    app.include_router(hfcompat.router)  # before routes: its /papers/{id}.md
    app.include_router(routes.router)
    app.include_router(topics.router)
    app.middleware("http")(browser_middleware)
    # Outermost: brotli when the browser takes it, else gzip; small answers as they are.
    app.add_middleware(BrotliMiddleware, quality=5, minimum_size=500, gzip_fallback=True)
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message, exc.links, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return error_response(request, exc.status_code, code, message, {})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(
            request, 400, "bad_request", f"{where}: {first.get('msg', 'invalid')}", {}
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, 500, "server_error", "Something went wrong on our side.", {})
