"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

``reply_for`` scripts the answer to ``RCPT TO`` per address: a string answers every time,
a list answers once per entry and then the address is accepted (``["451 4.3.0 try
later"]`` fails the first attempt only). ``tls`` is ``"none"``, ``"starttls"`` (required
before MAIL) or ``"ssl"`` (implicit TLS), with a certificate from a throwaway CA
(``trustme``); :meth:`SmtpServer.client_context` trusts it. With ``user`` set, AUTH
(after TLS) is required before MAIL. Messages are kept in ``received`` with their envelope
and the client's address, which tells connections apart.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    message: EmailMessage
    sender: str
    recipients: list[str]
    peer: tuple[str, int]  # the client's address: one per connection
    login: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(
        self,
        *,
        tls: str = "none",
        user: str | None = None,
        password: str | None = None,
        idle_timeout: float = 300,
    ) -> None:
        if tls not in ("none", "starttls", "ssl"):
            raise ValueError(f"tls must be none, starttls or ssl, not {tls!r}")
        self.port = free_port()
        self.received: list[Received] = []
        self.reply_for: dict[str, str | list[str]] = {}
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(HOST, "localhost").configure_cert(server_context)
        options: dict[str, Any] = {"server_hostname": "mx.test", "timeout": idle_timeout}
        if tls == "ssl":
            options["ssl_context"] = server_context
        elif tls == "starttls":
            options.update(tls_context=server_context, require_starttls=True)
        if user is not None:
            credentials = LoginPassword(user.encode(), (password or "").encode())
            options.update(authenticator=self._authenticator(credentials), auth_required=True)
        self.controller = Controller(_Handler(self), hostname=HOST, port=self.port, **options)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(context)
        return context

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()

    def rcpt_reply(self, address: str) -> str | None:
        """The scripted answer to RCPT TO ``address``, None to accept it."""
        with self._lock:
            script = self.reply_for.get(address)
            if isinstance(script, list):
                return script.pop(0) if script else None
            return script

    def _authenticator(self, expected: LoginPassword) -> Any:
        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            if isinstance(data, LoginPassword) and data == expected:
                return AuthResult(success=True, auth_data=data.login.decode())
            return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535

        return authenticate


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.server.rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        # Stored with LF line ends, as a mailbox would; on the wire they were CRLF.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(content)
        received = Received(
            message=message,
            sender=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            peer=session.peer,
            login=session.auth_data,
        )
        with self.server._lock:
            self.server.received.append(received)
            number = len(self.server.received)
        return f"250 2.0.0 Ok: queued as {number}"
