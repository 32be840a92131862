"""Static files under names that carry a hash of their content (``style.3f2a1b9c0d.css``),
cached by browsers for a year: a changed file gets a new name, so nobody keeps a stale one.

Pages ask for a file's address with the template function ``static(name)``. An address
with an old hash (a page cached across a deploy) still gets the current file, but with
``no-cache``, so the year-long promise is only ever made for the right content.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{10})(?P<suffix>\.[A-Za-z0-9]+)$")


class Assets:
    """The files of one directory and the hash of each, computed once at start-up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hashes = {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
            for path in sorted(directory.iterdir())
            if path.is_file()
        }

    def url(self, name: str) -> str:
        """The address of the file ``name``, with its content hash."""
        digest = self.hashes[name]  # a KeyError names a file the templates ask for in vain
        stem, dot, suffix = name.rpartition(".")
        return f"/static/{stem}.{digest}.{suffix}" if dot else f"/static/{name}.{digest}"

    def resolve(self, path: str) -> tuple[str, bool]:
        """The file an address asks for, and whether its hash is the file's current one."""
        match = _HASHED.match(path)
        if match is None:
            return path, False
        name = match["stem"] + match["suffix"]
        return name, self.hashes.get(name) == match["hash"]


class HashedStaticFiles(StaticFiles):
    """Serves :class:`Assets` by hashed or plain name, with the matching cache headers."""

    def __init__(self, assets: Assets) -> None:
        super().__init__(directory=assets.directory)
        self.assets = assets

    async def get_response(self, path: str, scope: Scope) -> Response:
        name, current = self.assets.resolve(path)
        response = await super().get_response(name, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = FOREVER if current else REVALIDATE
        return response
