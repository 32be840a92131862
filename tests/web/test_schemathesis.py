"""Every operation of the OpenAPI schema, fuzzed by schemathesis against the running server
(real HTTP, both backends, the demo data): no answer is a server error, and every answer has
a documented status code, a documented content type and a body that matches its schema.

Each operation gets up to three bounded runs, each a subtest named after it:

- ``positive``: requests that fit the schema;
- ``negative``: requests that do not (only where something can be invalid: a string path
  parameter takes any text, so an operation with nothing else has no negative run);
- ``known``: fitting requests whose path names things that exist (a demo paper, the latest
  week, a comment, a user, signed links ...), so the answers past the 404 are checked too.

The requests carry a moderator's API token, so state-changing operations get past login and
CSRF (a bearer token needs no CSRF token) to their handlers. The HTML form routes may answer
4xx to what the fuzzer sends; that is fine, as long as the schema says so.

This drives the operations' Hypothesis strategies itself: schemathesis' pytest integration
(``schemathesis.pytest.from_fixture``) fails on pytest 9.2, which removed ``Node._nodeid``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import LiveServer, free_port
from paperfeed.community.auth import Accounts
from paperfeed.digest.links import DigestLinks
from paperfeed.models import User
from paperfeed.rank.feeds import latest_period
from paperfeed.store import Store, utcnow

EXAMPLES = 15  # per operation and run: both backends in about two minutes
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PAPER = "2310.06110"  # in the demo set


class Credentials:
    """A moderator's API token, renewed when the fuzzer revokes it (it may post to
    ``/settings/tokens/{id}/revoke`` with the token's own id)."""

    def __init__(self, server: LiveServer) -> None:
        self.accounts = Accounts(server.store, server.settings, utcnow)
        self.user: User = self.accounts.create("fuzzer", "fuzzer@example.org", None, "moderator")
        self.token = self.accounts.create_token(self.user, "schemathesis")[1]

    def headers(self) -> dict[str, str]:
        if self.accounts.token_user(self.token) is None:
            self.token = self.accounts.create_token(self.user, "schemathesis")[1]
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def fuzzed(demo_store: Store) -> Iterator[LiveServer]:
    # No rate limits (the fuzzer would hit them at once). A submitted paper that is not in
    # the store is fetched from arXiv: a closed local port makes that fail fast, with a 400.
    closed = f"http://127.0.0.1:{free_port()}/api/query"
    with LiveServer(
        demo_store, rate_limits="", arxiv_api_url=closed, arxiv_min_interval=0.0
    ) as server:
        yield server


@pytest.fixture(scope="module")
def credentials(fuzzed: LiveServer) -> Credentials:
    return Credentials(fuzzed)


@pytest.fixture(scope="module")
def api_schema(fuzzed: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.url}/api/openapi.json")


def can_be_invalid(operation: APIOperation) -> bool:
    """Whether a negative run has something to break (a string path parameter has not)."""
    raw = operation.definition.raw
    return "requestBody" in raw or any(
        parameter["in"] != "path" or parameter["schema"].get("type") != "string"
        for parameter in raw.get("parameters", [])
    )


@pytest.fixture(scope="module")
def known(fuzzed: LiveServer, credentials: Credentials) -> dict[str, str]:
    """Existing things to name in paths, by the path segment before the parameter."""
    store, accounts = fuzzed.store, credentials.accounts
    week, month = latest_period(store, "week"), latest_period(store, "month")
    assert week and month
    bystander = accounts.create("bystander", "bystander@example.org", None)
    comment = store.community.add_comment(PAPER, bystander.id, "Hi", "<p>Hi</p>", now=utcnow())
    reset = accounts.reset_link("bystander@example.org")
    assert reset
    subscriber, _ = store.digests.subscribe("reader@example.org", now=utcnow())
    links = DigestLinks(accounts.signer, fuzzed.settings.public_url)
    return {
        "papers": PAPER,
        "week": week.label,
        "month": month.label,
        "category": "cs.LG",
        "comments": str(comment),
        "users": bystander.username,
        "reset": reset.link.rsplit("/", 1)[1],
        "confirm": links.confirm_token(subscriber, utcnow()),
        "preferences": links.manage_token(subscriber),
        "unsubscribe": links.manage_token(subscriber),
    }


def known_path(operation: APIOperation, known: dict[str, str]) -> dict[str, str]:
    """The operation's path parameters that ``known`` has a value for."""
    return {
        name: known[before]
        for before, name in re.findall(r"([^/]+)/\{(\w+)\}", operation.path)
        if before in known
    }


def runs(operation: APIOperation, known: dict[str, str]) -> Iterator[tuple[str, Any]]:
    yield "positive", operation.as_strategy(GenerationMode.POSITIVE)
    if can_be_invalid(operation):
        yield "negative", operation.as_strategy(GenerationMode.NEGATIVE)
    path = known_path(operation, known)
    if path:
        yield "known", operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path)


def fuzz(strategy: Any, credentials: Credentials) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=credentials.headers(), checks=CHECKS, timeout=30)

    run()


def test_every_operation_conforms(
    api_schema: schemathesis.BaseSchema,
    fuzzed: LiveServer,
    credentials: Credentials,
    known: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    operations = [op for methods in api_schema.values() for op in methods.values()]
    documented = sum(len(methods) for methods in api_schema.raw_schema["paths"].values())
    assert len(operations) == documented > 50  # every operation loaded
    for operation in operations:
        for name, strategy in runs(operation, known):
            with subtests.test(f"{name} {operation.label}"):
                fuzz(strategy, credentials)
        # A moderator's fuzzed form may have hidden the demo paper: show it for the next one.
        fuzzed.store.community.set_paper_hidden(PAPER, False, now=utcnow())
