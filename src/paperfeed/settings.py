"""Every setting of paperfeed, declared once: name, type, default and help.

Settings come from environment variables prefixed ``PAPERFEED_``. The README's configuration
table and ``.env.sample`` are generated from :data:`SETTINGS` (``paperfeed settings``) and a
test checks that they match, so the docs cannot drift from the code.
"""

from __future__ import annotations

import os
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
)


class SettingsError(ValueError):
    """A setting has a value of the wrong type."""


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
        return settings

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
