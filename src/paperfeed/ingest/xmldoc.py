"""Parsing untrusted XML (arXiv API feeds, OAI-PMH pages) with located errors."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from .errors import SourceError


def parse_xml(data: bytes, source: str) -> Element:
    """The root element; :class:`SourceError` naming ``source`` and the line and column of
    malformed XML, or refusing entity tricks (defusedxml)."""
    try:
        root: Element = ElementTree.fromstring(data)
    except ParseError as exc:
        line, column = exc.position
        raise SourceError(f"{source}: malformed XML at line {line}, column {column}") from None
    except DefusedXmlException as exc:
        raise SourceError(f"{source}: refused XML ({type(exc).__name__})") from None
    return root
