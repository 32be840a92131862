"""Submitting a paper by arXiv id or URL: taken from the store, else fetched from arXiv with
the ingestion client, then placed on the day's feed once."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime

from paperfeed.ingest.arxiv_api import ArxivApiError, ArxivClient
from paperfeed.models import InvalidArxivId, User, split_arxiv_id
from paperfeed.settings import Settings
from paperfeed.store import Store
from paperfeed.store.community import Submission

_URL = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>[^?#]+?)"
    r"(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^arxiv:\s*", re.IGNORECASE)


class SubmitError(ValueError):
    """The submission cannot be taken; the message says why."""


def parse_submission(text: str) -> str:
    """The bare arXiv id in an id (``2310.06110v2``, ``arXiv:…``, ``hep-th/9901001``) or an
    arXiv URL (``/abs/``, ``/pdf/`` with or without ``.pdf``, ``/html/``)."""
    text = text.strip()
    if not text:
        raise SubmitError("Give an arXiv id (like 2310.06110) or an arXiv URL.")
    if len(text) > 300:
        raise SubmitError("That is too long for an arXiv id or URL.")
    match = _URL.match(text)
    candidate = match["id"] if match else _PREFIX.sub("", text)
    try:
        return split_arxiv_id(candidate)[0]
    except InvalidArxivId:
        raise SubmitError(
            f"{text!r} is not an arXiv id or URL (like 2310.06110, "
            "https://arxiv.org/abs/2310.06110v2 or hep-th/9901001)."
        ) from None


class Submitter:
    """Turns submissions into feed entries; one arXiv request at a time per process."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._lock = threading.Lock()
        self._client: ArxivClient | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _arxiv(self) -> ArxivClient:
        if self._client is None:
            self._client = ArxivClient(
                self.settings.arxiv_api_url,
                min_interval=self.settings.arxiv_min_interval,
                retries=1,
                backoff=2.0,
                timeout=20.0,
                contact=self.settings.contact,
            )
        return self._client

    def _fetch(self, arxiv_id: str) -> None:
        with self._lock:
            try:
                record = self._arxiv().fetch_one(arxiv_id)
            except ArxivApiError as exc:
                raise SubmitError(f"Could not get {arxiv_id} from arXiv: {exc}") from None
        self.store.write_batch([record])

    def fetch_many(self, ids: list[str]) -> dict[str, str]:
        """Fetch and store papers by id (a library import): {id: "" when stored, or why
        not}; ids arXiv does not know are left out. Through the same polite client."""
        from paperfeed.personal.library_import import arxiv_fetcher

        with self._lock:
            return arxiv_fetcher(self.store, self._arxiv())(ids)

    def submit(self, text: str, user: User, *, day: date, now: datetime) -> Submission:
        arxiv_id = parse_submission(text)
        if self.store.get_paper(arxiv_id) is None:
            self._fetch(arxiv_id)
        elif self.store.community.paper_hidden(arxiv_id):
            raise SubmitError(f"{arxiv_id} was removed by the moderators of this site.")
        return self.store.community.submit(arxiv_id, day, user, now=now)
