"""The recommender's view of the corpus, built once per process and kept in step.

:class:`~paperfeed.personal.recommend.CorpusFeatures` (a tf-idf fit over every embedded
paper, next to the stored vectors) takes about 30 s at 75k papers, under a second for the
demo set: far too long for a request. :class:`FeatureCache` builds it in a background
thread (``paperfeed serve`` starts one at warm-up; otherwise the first request that needs
it does), and until that first build is done :meth:`FeatureCache.get` answers None at once,
so "For you" shows its plain candidates instead of waiting. When the corpus changes (the
latest write to the stored embeddings, the fingerprint the in-process vector index uses,
looked at most every ``check_every`` seconds), the next build runs in the background while
the previous features keep answering: a paper embedded a minute ago is recommended once
the rebuild is in, never at the cost of a slow page. A batch job (the e-mail digest) calls
:meth:`FeatureCache.build_now` and waits instead.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from paperfeed.search.embed import MODEL_NAME
from paperfeed.store import Store

from .recommend import CorpusFeatures

log = logging.getLogger(__name__)
CHECK_EVERY = 60.0  # seconds between two looks at the corpus for new papers
Builder = Callable[[Store, str], CorpusFeatures | None]


def build_features(store: Store, model: str = MODEL_NAME) -> CorpusFeatures | None:
    """Features of every visible paper with a ``model`` vector; None when there is none
    (nothing indexed yet). Reads them with the query topic clustering uses."""
    found = store.search.embedded_papers(model)
    if not found.ids:
        return None
    return CorpusFeatures.build(found.ids, found.texts, found.matrix)


class FeatureCache:
    """The :class:`CorpusFeatures` of one store, for one process (thread-safe).

    ``status`` says where it stands: ``not started``, ``building`` (the first build runs),
    ``ready``, ``empty`` (no paper has a vector) or ``failed`` (the last build raised; it is
    tried again at the next look)."""

    def __init__(
        self,
        store: Store,
        model: str = MODEL_NAME,
        *,
        check_every: float = CHECK_EVERY,
        build: Builder = build_features,
    ) -> None:
        self.store = store
        self.model = model
        self.check_every = check_every
        self._build = build
        self._features: CorpusFeatures | None = None
        self._version: object = None  # the corpus fingerprint the features were built from
        self._built = False  # a build finished (its result may be None: an empty corpus)
        self._failed = False
        self._checked = -math.inf
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.seconds: float | None = None  # how long the last build took

    @property
    def status(self) -> str:
        if self._features is not None:
            return "ready"
        if self.building:
            return "building"
        if self._failed:
            return "failed"
        return "empty" if self._built else "not started"

    @property
    def building(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def get(self) -> CorpusFeatures | None:
        """The features to rank with now, never waiting for a build: the latest built
        (perhaps of a corpus a few papers short), or None before the first is done. Starts
        a build in the background when none was made or the corpus changed since."""
        if self._due():
            self.start()
        return self._features

    def start(self) -> None:
        """Build (again) in a background thread if the corpus changed since the last build
        (or none was made), unless a build is running already."""
        with self._lock:
            if self.building:
                return
            self._checked = time.monotonic()
            version = self.store.search.embeddings_version()
            if self._built and version == self._version:
                return
            self._thread = threading.Thread(
                target=self._run, args=(version,), name="paperfeed-features", daemon=True
            )
            self._thread.start()

    def wait(self, timeout: float | None = None) -> CorpusFeatures | None:
        """Wait for a running build (tests, warm-up); the features after it."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._features

    def build_now(self) -> CorpusFeatures | None:
        """The features of the corpus as it is now, built in this thread if they are not
        (a batch job, which may take the time)."""
        self.wait()
        version = self.store.search.embeddings_version()
        if not (self._built and version == self._version):
            self._run(version)
        return self._features

    def _due(self) -> bool:
        """Time to look at the corpus: at once before the first build, then (and after a
        failed build) every ``check_every`` seconds; never while a build runs."""
        if self.building:
            return False
        pause = self.check_every if self._built or self._failed else 0.0
        return time.monotonic() - self._checked >= pause

    def _run(self, version: object) -> None:
        started = time.perf_counter()
        try:
            features = self._build(self.store, self.model)
        except Exception:  # the site works without it: For you shows its plain candidates
            log.exception("building the recommender's features failed")
            self._failed = True
            return
        self._features, self._version = features, version
        self._built, self._failed = True, False
        self.seconds = time.perf_counter() - started
        log.info(
            "recommender features: %d papers in %.1f s",
            len(features.ids) if features else 0,
            self.seconds,
        )
