"""Every setting of paperfeed, declared once: name, type, default and help.

Settings come from environment variables prefixed ``PAPERFEED_``. The README's configuration
table and ``.env.sample`` are generated from :data:`SETTINGS` (``paperfeed settings``) and a
test checks that they match, so the docs cannot drift from the code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperfeed.arxiv_calendar import ArxivCalendar, HolidayError

PREFIX = "PAPERFEED_"


@dataclass(frozen=True)
class Setting:
    """One configuration knob."""

    name: str
    kind: type
    default: str
    help: str

    @property
    def env_var(self) -> str:
        return PREFIX + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        Path,
        "var",
        "Directory for the default SQLite database and job lock files (created if missing).",
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL of the database. Empty means `sqlite:///<data_dir>/paperfeed.sqlite3`; "
        "use `postgresql+psycopg://user:pass@host/db` for PostgreSQL >= 16.",
    ),
    Setting("host", str, "127.0.0.1", "Address `paperfeed serve` listens on."),
    Setting("port", int, "8000", "Port `paperfeed serve` listens on."),
    Setting("site_name", str, "paperfeed", "Name shown in page titles and the header."),
    Setting("page_size", int, "30", "Paper cards per feed page."),
    Setting(
        "abstract_preview_chars",
        int,
        "300",
        "Characters of the abstract shown on a feed card; the paper page shows all of it.",
    ),
    Setting(
        "arxiv_api_url",
        str,
        "https://export.arxiv.org/api/query",
        "arXiv API (Atom) endpoint used by `paperfeed ingest arxiv`.",
    ),
    Setting(
        "arxiv_min_interval",
        float,
        "3.0",
        "Seconds between two requests to the arXiv API (arXiv asks for at least 3).",
    ),
    Setting(
        "http_retries",
        int,
        "3",
        "Retries (exponential backoff from 5 s) after a 5xx or network error from arXiv or HF.",
    ),
    Setting(
        "oai_url",
        str,
        "https://oaipmh.arxiv.org/oai",
        "arXiv OAI-PMH endpoint used by `paperfeed ingest oai`.",
    ),
    Setting(
        "categories",
        str,
        "cs.LG,cs.AI,cs.CL,cs.CV,stat.ML,cond-mat.stat-mech,cond-mat.dis-nn",
        "arXiv categories `paperfeed ingest daily` puts on the feed (comma-separated).",
    ),
    Setting(
        "hf_api_url",
        str,
        "https://huggingface.co",
        "Base URL of the Hugging Face API for `paperfeed ingest hf-daily` (`/api/daily_papers`).",
    ),
    Setting(
        "hf_min_interval",
        float,
        "1.0",
        "Seconds between two requests to the Hugging Face API.",
    ),
    Setting(
        "contact",
        str,
        "",
        "Contact (URL or e-mail) put in the User-Agent of requests to arXiv, as arXiv asks.",
    ),
    Setting(
        "arxiv_holidays",
        str,
        "",
        "Extra arXiv holiday evenings without an announcement (US Eastern dates, "
        "comma-separated `YYYY-MM-DD`), added to the list bundled from arXiv's published "
        "schedule; copy new ones from https://info.arxiv.org/help/availability.html.",
    ),
    Setting(
        "db_pool_size",
        int,
        "5",
        "Connections kept open per process (PostgreSQL only).",
    ),
    Setting(
        "public_url",
        str,
        "http://127.0.0.1:8000",
        "Address readers reach the site at, for links in e-mails (no trailing slash).",
    ),
    Setting(
        "secret_key",
        str,
        "",
        "Key that signs CSRF tokens and password-reset links. Empty: one is generated on first "
        "use and kept in the database, so every app server shares it.",
    ),
    Setting(
        "secure_cookies",
        str,
        "auto",
        "Mark cookies `Secure`: `auto` (when the request came over HTTPS, as told by a trusted "
        "proxy), `always` or `never`.",
    ),
    Setting(
        "trusted_proxies",
        str,
        "127.0.0.1",
        "Addresses whose X-Forwarded-For/-Proto headers are believed (comma-separated, `*` "
        "for any): the client address is what rate limits count.",
    ),
    Setting("session_days", int, "30", "Days a login lasts without activity."),
    Setting(
        "signups",
        str,
        "open",
        "`open`: anyone can create an account; `closed`: only `paperfeed users create`.",
    ),
    Setting(
        "rate_limits",
        str,
        "login=10/15m,signup=5/1h,reset=5/1h,submit=30/1h,vote=600/1h,comment=30/1h,"
        "subscribe=10/1h,save=600/1h,follow=120/1h,import=20/1d",
        "Actions allowed per window, counted per user and per client address "
        "(`action=N/window`, window in s, m, h or d).",
    ),
    Setting(
        "trending_gravity",
        float,
        "1.5",
        "Trending score = votes / (hours since the paper's feed day began + 2) ^ gravity: "
        "higher forgets old papers faster (1.5: yesterday's paper needs ~4.5× the votes).",
    ),
    Setting(
        "for_you_seen_hours",
        float,
        "12",
        "Hours a paper stays in For you and the tags' recommendations after it was first shown "
        "there (page, API or private feed), so reloads keep the list; then it is not "
        "recommended again. A paper sent in a digest is not recommended again at all.",
    ),
    Setting(
        "vector_exact_max",
        int,
        "50000",
        "SQLite: up to this many embeddings, semantic search is exact (brute force in "
        "memory); above it, an approximate inverted-file index (PostgreSQL uses pgvector HNSW).",
    ),
    Setting(
        "vector_probes",
        int,
        "0",
        "Cells of the approximate index read per query: more is slower and closer to exact; "
        "0 reads 4 × √cells (recall@10 ≈ 0.97 against exact search at 75k and at 1M papers).",
    ),
    Setting(
        "keyword_engine",
        str,
        "tantivy",
        "Keyword ranking: `tantivy` (a BM25 index kept next to the database, built and kept "
        "in step by paperfeed; about 10× faster) or `database` (FTS5 on SQLite, a tsvector "
        "on PostgreSQL; nothing besides the database).",
    ),
    Setting(
        "search_index_dir",
        str,
        "",
        "Where the tantivy keyword index lives. Empty: next to the SQLite file "
        "(`<database>.search/`), or `<data_dir>/search/` for PostgreSQL (a copy per app "
        "server, rebuilt from the database when missing).",
    ),
    Setting("smtp_host", str, "", "SMTP server for e-mail; empty: no e-mail is sent."),
    Setting("smtp_port", int, "587", "SMTP port (587 for STARTTLS, 465 for SSL, 25 plain)."),
    Setting("smtp_security", str, "starttls", "`none`, `starttls` or `ssl`."),
    Setting("smtp_user", str, "", "SMTP login name (empty: no login)."),
    Setting("smtp_password", str, "", "SMTP password."),
    Setting("mail_from", str, "paperfeed@localhost", "From address of every e-mail."),
    Setting("mail_rate", float, "5", "E-mails per second at most."),
)


class SettingsError(ValueError):
    """A setting has a value of the wrong type."""


CHOICES = {
    "secure_cookies": ("auto", "always", "never"),
    "signups": ("open", "closed"),
    "smtp_security": ("none", "starttls", "ssl"),
    "keyword_engine": ("tantivy", "database"),
}
_RATE_RE = re.compile(r"^(?P<action>[a-z_]+)=(?P<count>\d+)/(?P<n>\d+)?(?P<unit>[smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    host: str
    port: int
    site_name: str
    page_size: int
    abstract_preview_chars: int
    arxiv_api_url: str
    arxiv_min_interval: float
    http_retries: int
    oai_url: str
    categories: str
    hf_api_url: str
    hf_min_interval: float
    contact: str
    arxiv_holidays: str
    db_pool_size: int
    public_url: str
    secret_key: str
    secure_cookies: str
    trusted_proxies: str
    session_days: int
    signups: str
    rate_limits: str
    trending_gravity: float
    for_you_seen_hours: float
    vector_exact_max: int
    vector_probes: int
    keyword_engine: str
    search_index_dir: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str
    smtp_password: str
    mail_from: str
    mail_rate: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``); ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env_var, setting.default)
            try:
                values[setting.name] = setting.kind(raw)
            except ValueError:
                raise SettingsError(
                    f"{setting.env_var}={raw!r} is not a valid {setting.kind.__name__}"
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.arxiv_calendar()  # a bad holiday date fails at start, not on a page
        settings.check_choices()
        settings.rate_limit_rules()
        return settings

    def check_choices(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(
                    f"{PREFIX}{name.upper()}={value!r}: must be one of {', '.join(allowed)}"
                )

    def rate_limit_rules(self) -> dict[str, tuple[int, int]]:
        """``{action: (allowed, window seconds)}`` from ``rate_limits``."""
        rules: dict[str, tuple[int, int]] = {}
        for part in filter(None, (p.strip() for p in self.rate_limits.split(","))):
            match = _RATE_RE.match(part)
            if not match:
                raise SettingsError(
                    f"{PREFIX}RATE_LIMITS: {part!r} is not `action=N/window` (like vote=600/1h)"
                )
            count, window = int(match["count"]), int(match["n"] or 1) * _UNITS[match["unit"]]
            rules[match["action"]] = (count, window)
        return rules

    def arxiv_calendar(self) -> ArxivCalendar:
        """arXiv's announcement calendar with the published and configured holidays."""
        try:
            return ArxivCalendar.with_extra(self.arxiv_holidays)
        except HolidayError as exc:
            raise SettingsError(f"{PREFIX}ARXIV_HOLIDAYS: {exc}") from None

    @property
    def category_list(self) -> list[str]:
        return [c.strip() for c in self.categories.split(",") if c.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default filled in from ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'paperfeed.sqlite3'}"


def env_sample() -> str:
    """The text of ``.env.sample``: every setting with its help and default."""
    lines = ["# paperfeed settings (generated by `paperfeed settings --env`; do not edit)", ""]
    for setting in SETTINGS:
        lines.append(f"# {setting.help}")
        lines.append(f"# {setting.env_var}={setting.default}")
        lines.append("")
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(empty)"
        rows.append(f"| `{setting.env_var}` | {default} | {setting.help} |")
    return "\n".join(rows)
