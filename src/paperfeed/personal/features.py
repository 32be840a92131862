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

Built features are also **kept in a file** (:func:`features_file`: next to the SQLite
database, or under ``PAPERFEED_DATA_DIR/recommend/`` for PostgreSQL, one per database),
tagged with the model, a format number and the corpus fingerprint they were built from: a
restarted server or a digest run whose corpus has not changed loads them in about a second
instead of fitting the tf-idf again (30 s at 75k papers). A file of another corpus, format
or model, or one that cannot be read, is ignored and replaced; it is a derived copy, never
the only one of anything.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from paperfeed.search.embed import MODEL_NAME
from paperfeed.search.keyword import database_key
from paperfeed.store import Store

from .recommend import CorpusFeatures

log = logging.getLogger(__name__)
CHECK_EVERY = 60.0  # seconds between two looks at the corpus for new papers
FILE_FORMAT = 1  # of the features file: a file of another format is rebuilt
Builder = Callable[[Store, str], CorpusFeatures | None]


def build_features(store: Store, model: str = MODEL_NAME) -> CorpusFeatures | None:
    """Features of every visible paper with a ``model`` vector; None when there is none
    (nothing indexed yet). Reads them with the query topic clustering uses."""
    found = store.search.embedded_papers(model)
    if not found.ids:
        return None
    return CorpusFeatures.build(found.ids, found.texts, found.matrix)


def features_file(store: Store, data_dir: Path) -> Path | None:
    """Where the features of ``store`` are kept: next to a SQLite file, under ``data_dir``
    (per database) for PostgreSQL; None for an in-memory database."""
    database = store.engine.url.database
    if store.backend == "sqlite":
        if not database or database == ":memory:":
            return None
        return Path(database).with_name(Path(database).name + ".recommend.npz")
    return data_dir / "recommend" / f"{database_key(store)}.npz"


def save_features(path: Path, features: CorpusFeatures, model: str, version: object) -> None:
    """Write ``features`` to ``path`` (a temporary file renamed over it: a reader never
    sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    matrix = features.tfidf
    with temporary.open("wb") as out:
        np.savez(
            out,
            format=np.array(FILE_FORMAT),
            model=np.array(model),
            version=np.array(repr(version)),
            ids=np.array(features.ids),
            vectors=features.vectors,
            data=matrix.data,
            indices=matrix.indices,
            indptr=matrix.indptr,
            shape=np.array(matrix.shape),
        )
    os.replace(temporary, path)


def load_features(path: Path, model: str, version: object) -> CorpusFeatures | None:
    """The features kept in ``path`` if they were built with ``model`` from the corpus
    fingerprinted ``version``, in this format; None otherwise (no file, another corpus, or
    a file that cannot be read, which is logged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as kept:
            if int(kept["format"]) != FILE_FORMAT or str(kept["model"]) != model:
                return None
            if str(kept["version"]) != repr(version):
                return None
            shape = tuple(int(n) for n in kept["shape"])
            matrix = sp.csr_matrix((kept["data"], kept["indices"], kept["indptr"]), shape=shape)
            return CorpusFeatures([str(i) for i in kept["ids"]], kept["vectors"], matrix)
    except Exception as error:  # a damaged or foreign file: built again and replaced
        log.warning("%s: cannot read the recommender's features (%s); building them", path, error)
        return None


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
        path: Path | None = None,
    ) -> None:
        self.store = store
        self.model = model
        self.path = path  # where built features are kept (None: not kept)
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
            features = None if self.path is None else load_features(self.path, self.model, version)
            if features is None:
                features = self._build(self.store, self.model)
                if features is not None and self.path is not None:
                    save_features(self.path, features, self.model, version)
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
