"""Which listing a harvested arXiv record was announced in as a new paper.

arXiv's OAI-PMH stamps a record with the day it last changed, and a new submission changes
on the day of the listing that announces it (in the recorded page of the fixtures, papers
submitted on Thursday 2024-01-25 carry the datestamp 2024-01-26, Friday's listing). The same
harvest also returns replacements and metadata updates of older papers (a 2013 paper with a
new version, a journal reference added): those update the stored paper but are not news
and stay off the feed.
"""

from __future__ import annotations

from datetime import date, timedelta

from paperfeed.models import IngestRecord

_NEW_STYLE_MONTH = slice(0, 4)  # "2401" of "2401.14038"


def announced_listing(record: IngestRecord, *, last: date) -> date | None:
    """The listing day ``record`` is a new paper of, or None.

    A record is a new paper when it has a single version (no ``updated`` date) and an arXiv
    id of the month it was announced in (arXiv assigns ids at announcement, so the month of
    the announcement evening or, across a month's end, of the listing day). Its listing is
    its datestamp; records stamped after ``last`` (the listing being filled) are left for a
    later run.
    """
    stamp = record.datestamp
    if stamp is None or stamp > last or record.paper.updated is not None:
        return None
    arxiv_id = record.paper.arxiv_id
    if "/" in arxiv_id:  # old-style ids ended in March 2007
        return None
    evening = stamp - timedelta(days=1)
    months = {f"{evening:%y%m}", f"{stamp:%y%m}"}
    return stamp if arxiv_id[_NEW_STYLE_MONTH] in months else None
