"""One polite HTTP getter for every live source: spacing, User-Agent, bounded retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from paperfeed import __version__

from .errors import SourceError


class FetchError(SourceError):
    """A request failed for good (after retries, or with a 4xx answer)."""


def user_agent(contact: str) -> str:
    who = f"; {contact}" if contact else ""
    return f"paperfeed/{__version__} (self-hosted research paper feed{who})"


class PoliteClient:
    """GETs at most one request per ``min_interval`` seconds.

    HTTP 5xx answers and network errors are retried ``retries`` times with exponential
    backoff (``backoff``, 2×, 4× … seconds), then raise :class:`FetchError`; other 4xx
    answers fail at once. ``sleep`` and ``clock`` are injectable so tests need not wait.
    """

    def __init__(
        self,
        *,
        min_interval: float = 0.0,
        contact: str = "",
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval = min_interval
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._last_request: float | None = None
        self._http = httpx.Client(
            timeout=timeout, headers={"User-Agent": user_agent(contact)}, follow_redirects=True
        )

    def close(self) -> None:
        self._http.close()

    def get(self, url: str, params: dict[str, Any]) -> tuple[str, bytes]:
        """``(the URL asked, the body)`` of a successful answer."""
        where = f"{url}?{httpx.QueryParams(params)}"
        failure = "no attempt"
        retry_after: float | None = None
        for attempt in range(self.retries + 1):
            retry_after = None
            self._wait_turn()
            try:
                response = self._http.get(url, params=params)
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return where, response.content
                failure = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    raise FetchError(f"{where}: {failure} (after {attempt + 1} attempt(s))")
                retry_after = _retry_after(response)
            if attempt < self.retries:
                # A 503 with Retry-After (as arXiv's OAI-PMH sends) says how long to wait.
                delay = self.backoff * 2**attempt
                if failure.startswith("HTTP 503") and retry_after is not None:
                    delay = retry_after
                self._sleep(delay)
        raise FetchError(f"{where}: {failure} (after {self.retries + 1} attempt(s))")

    def _wait_turn(self) -> None:
        now = self._clock()
        if self._last_request is not None:
            wait = self._last_request + self.min_interval - now
            if wait > 0:
                self._sleep(wait)
                now += wait
        self._last_request = now


MAX_RETRY_AFTER = 600.0


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header, capped; None if absent or a date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value.isdigit():
        return None
    return min(float(value), MAX_RETRY_AFTER)
