"""Sending e-mail: build a message with the standard library, hand it to an SMTP server.

:func:`new_message` builds the MIME message (the ``email`` package, never hand-made MIME);
:class:`Mailer` sends it over one kept-open connection, at most ``mail_rate`` messages per
second, and turns every failure into a :class:`MailError` that says whether trying again
later can help (:class:`TemporaryMailError`) or not (:class:`PermanentMailError`).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from email import errors, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from types import TracebackType
from typing import TYPE_CHECKING

from paperfeed.settings import Settings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

SECURITY_MODES = ("none", "starttls", "ssl")


class MailError(Exception):
    """A message could not be sent; ``code`` is the SMTP reply code when there was one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class MailDisabled(MailError):
    """No SMTP server is configured."""


class TemporaryMailError(MailError):
    """A 4xx reply or a network failure: the same message may go through later."""


class PermanentMailError(MailError):
    """A 5xx reply, a bad address or a broken setup: sending again will fail again."""


# -- building messages -------------------------------------------------------------------


def new_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    html_encoding: str | None = None,
) -> EmailMessage:
    """A message from ``sender`` to ``to``: plain text, or text and HTML alternatives.

    ``html_encoding`` ("base64", "quoted-printable") fixes the HTML part's transfer encoding;
    by default the library tries both on non-ASCII text and keeps the shorter, which for
    thousands of digests costs more than building them.

    Raises ValueError for a line break in a header (header injection) and
    PermanentMailError for an address that is not exactly one valid mailbox.
    """
    from_address = parse_address(sender)
    to_address = parse_address(to)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = from_address
    msg["To"] = to_address
    msg["Subject"] = subject  # the policy refuses CR and LF in header values
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=from_address.domain)
    for name, value in (headers or {}).items():
        _check_header_name(name)
        msg[name] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html", cte=html_encoding)
    return msg


def parse_address(value: str) -> Address:
    """``value`` as one mailbox (``bob@example.org`` or ``Bob <bob@example.org>``)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"line break in address {value!r}")
    try:
        header = policy.SMTP.header_factory("to", value)
    except (ValueError, IndexError, errors.HeaderParseError):
        raise PermanentMailError(f"invalid address {value!r}") from None
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects:
        raise PermanentMailError(f"invalid address {value!r}: expected one mailbox")
    address = addresses[0]
    if not address.username or not address.domain:
        raise PermanentMailError(f"invalid address {value!r}: expected user@domain")
    return address


def _check_header_name(name: str) -> None:
    # RFC 5322 field names: printable US-ASCII except the colon.
    if not name or any(not 33 <= ord(c) <= 126 or c == ":" for c in name):
        raise ValueError(f"invalid header name {name!r}")


# -- sending -----------------------------------------------------------------------------


class _SMTP(smtplib.SMTP):
    """smtplib's client, keeping the server's reply to DATA (``sendmail`` drops it)."""

    data_reply = b""

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        code, reply = super().data(msg)
        self.data_reply = reply
        return code, reply


class _SMTPSSL(_SMTP, smtplib.SMTP_SSL):
    pass


class Mailer:
    """Sends messages through one SMTP server.

    Inside ``with mailer:`` one connection serves every ``send`` (checked with NOOP and
    reopened when the server dropped it while idle); outside, each ``send`` opens and closes
    its own. ``rate`` caps messages per second (0: no cap). A Mailer holds a connection and
    a clock, so each thread uses its own.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        security: str = "starttls",
        user: str = "",
        password: str = "",
        rate: float = 0.0,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {SECURITY_MODES}, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.user = user
        self.password = password
        self.rate = rate
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._conn: _SMTP | None = None
        self._keep_open = False
        self._last_send: float | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> Mailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            user=settings.smtp_user,
            password=settings.smtp_password,
            rate=settings.mail_rate,
            timeout=timeout,
            ssl_context=ssl_context,
        )

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> Mailer:
        self._require_enabled()
        self._keep_open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._keep_open = False
        self._close()

    def send(self, msg: EmailMessage) -> str:
        """Send ``msg`` to the addresses in its headers; the server's reply to DATA."""
        self._require_enabled()
        self._wait_for_turn()
        try:
            conn = self._connection()
            refused = conn.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            recipient, (code, reply) = next(iter(exc.recipients.items()))
            raise self._reply_error(f"refused recipient {recipient}", code, reply) from exc
        except smtplib.SMTPSenderRefused as exc:
            what = f"refused sender {exc.sender}"
            raise self._reply_error(what, exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPAuthenticationError as exc:
            what = f"refused login as {self.user}"
            raise self._reply_error(what, exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error("answered", exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError) as exc:
            self._close()
            raise PermanentMailError(f"{self.where}: {exc}") from exc
        except OSError as exc:  # also SMTPServerDisconnected, timeouts, refused connections
            self._close()
            raise TemporaryMailError(f"connection to {self.where} failed: {exc}") from exc
        finally:
            if not self._keep_open:
                self._close()
        if refused:
            # Only some of several recipients: the others have the message, so sending it
            # again is not the fix, whatever the code.
            recipient, (code, reply) = next(iter(refused.items()))
            what = f"refused recipient {recipient}"
            raise self._reply_error(what, code, reply, kind=PermanentMailError)
        return conn.data_reply.decode("utf-8", "replace")

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise MailDisabled("e-mail is disabled: no SMTP host is configured")

    def _wait_for_turn(self) -> None:
        if self.rate > 0 and self._last_send is not None:
            delay = self._last_send + 1 / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._last_send = time.monotonic()

    def _connection(self) -> _SMTP:
        if self._conn is not None and self._alive(self._conn):
            return self._conn
        self._close()
        self._conn = self._connect()
        return self._conn

    @staticmethod
    def _alive(conn: _SMTP) -> bool:
        try:
            return conn.noop()[0] == 250
        except OSError:
            return False

    def _connect(self) -> _SMTP:
        context = self.ssl_context or ssl.create_default_context()
        conn: _SMTP
        if self.security == "ssl":
            conn = _SMTPSSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            conn = _SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                conn.starttls(context=context)
            if self.user:
                conn.login(self.user, self.password)
        except BaseException:
            conn.close()
            raise
        return conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except OSError:
            conn.close()

    def _reply_error(
        self, what: str, code: int, reply: bytes | str, kind: type[MailError] | None = None
    ) -> MailError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        if kind is None:
            kind = TemporaryMailError if 400 <= code < 500 else PermanentMailError
        return kind(f"{self.where} {what}: {code} {text}", code)


def send_with_retry(
    mailer: Mailer,
    msg: EmailMessage,
    *,
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], object] = time.sleep,
) -> str:
    """``mailer.send(msg)``, tried again after ``backoff``, 2 × ``backoff``, ... seconds
    while it fails with a TemporaryMailError; the last error is raised."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts - 1):
        try:
            return mailer.send(msg)
        except TemporaryMailError:
            sleep(backoff * 2**attempt)
    return mailer.send(msg)
