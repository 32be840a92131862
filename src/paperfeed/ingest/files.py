"""Reading input files: plain or gzip, line by line, in bounded memory, with progress."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import RecordError, SourceError

MAX_LINE_BYTES = 4 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class InputFile:
    """An input file; :meth:`lines` streams it, :attr:`bytes_read` tracks progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            stat = path.stat()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if not path.is_file():
            raise SourceError(f"{path}: not a file")
        self.size = stat.st_size
        self.identity = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        self._raw: IO[bytes] | None = None

    @property
    def bytes_read(self) -> int:
        """Position in the file on disk (compressed bytes for gzip)."""
        try:
            return self._raw.tell() if self._raw else 0
        except (OSError, ValueError):
            return self.size

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """Yield ``(line number, bytes)``; over-long lines are cut and flagged by the parser."""
        with self.path.open("rb") as raw:
            self._raw = raw
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gzipped else raw  # type: ignore[assignment]
            number = 0
            try:
                while True:
                    line = stream.readline(MAX_LINE_BYTES + 1)
                    if not line:
                        return
                    number += 1
                    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                        while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(
                            b"\n"
                        ):
                            pass
                    yield number, line
            except (OSError, EOFError, zlib.error) as exc:
                raise SourceError(
                    f"{self.path}: line {number + 1}: cannot read further: {exc}"
                ) from None
            finally:
                self._raw = None

    def location(self, line: int) -> str:
        return f"{self.path}:{line}"


def decode_json_line(input_file: InputFile, number: int, line: bytes) -> Any:
    """One JSONL line as a JSON object, or :class:`RecordError` naming file and line."""
    where = input_file.location(number)
    if len(line) > MAX_LINE_BYTES:
        raise RecordError(where, f"line longer than {MAX_LINE_BYTES:,} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(where, f"not UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(where, f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise RecordError(where, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def iter_json_array(input_file: InputFile) -> Iterator[tuple[int, Any]]:
    """Stream the items of a top-level JSON array as ``(line where the item starts, item)``.

    Reads line by line and decodes each item as soon as it is complete, so a large API
    response never has to fit in memory twice. Malformed JSON stops the file: after a
    syntax error there is no reliable place to resume.
    """
    decoder = json.JSONDecoder()
    buffer = ""
    buffer_line = 1  # line number of buffer[0]
    state = "start"  # start -> first -> (item -> after -> next)* -> end
    for number, raw in input_file.lines():
        try:
            buffer += raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(f"{input_file.location(number)}: not UTF-8") from None
        while True:
            stripped = buffer.lstrip()
            buffer_line += buffer[: len(buffer) - len(stripped)].count("\n")
            buffer = stripped
            if not buffer:
                buffer_line = number + 1
                break
            where = input_file.location(buffer_line)
            head = buffer[0]
            if state == "start":
                if head != "[":
                    raise SourceError(f"{where}: expected a JSON array")
                buffer, state = buffer[1:], "first"
                continue
            if state == "end":
                raise SourceError(f"{where}: unexpected data after the array")
            if state == "after":
                if head not in ",]":
                    raise SourceError(f"{where}: malformed JSON: expected ',' or ']'")
                buffer, state = buffer[1:], "next" if head == "," else "end"
                continue
            if state == "first" and head == "]":
                buffer, state = buffer[1:], "end"
                continue
            try:
                item, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as exc:
                if exc.pos >= len(buffer.rstrip()) - 1 or "Unterminated" in exc.msg:
                    break  # incomplete: read more lines
                line = buffer_line + exc.lineno - 1
                raise SourceError(
                    f"{input_file.location(line)}: malformed JSON: {exc.msg}"
                ) from None
            yield buffer_line, item
            buffer_line += buffer[:end].count("\n")
            buffer, state = buffer[end:], "after"
    if state != "end":
        where = input_file.location(buffer_line)
        raise SourceError(f"{where}: the JSON array is not closed (truncated file?)")
