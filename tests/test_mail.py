"""The mail layer against a real SMTP server on loopback (aiosmtpd), never a mock."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from paperfeed.mail import (
    MailDisabled,
    Mailer,
    PermanentMailError,
    TemporaryMailError,
    new_message,
    send_with_retry,
)
from paperfeed.settings import Settings
from smtpserver import SmtpServer, free_port


def mailer_for(server: SmtpServer, **overrides: Any) -> Mailer:
    ssl_context = overrides.pop("ssl_context", None)
    settings = Settings.from_env(
        {},
        **{
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_security": "none",
            "mail_rate": 0.0,
            **overrides,
        },
    )
    return Mailer.from_settings(settings, timeout=5, ssl_context=ssl_context)


def reset_mail(to: str = "bob@example.org", **kwargs: Any) -> Any:
    return new_message(
        sender="paperfeed <paperfeed@example.org>",
        to=to,
        subject="Réinitialiser your password",
        text="Follow this link: http://127.0.0.1:8000/reset/abc\n",
        **kwargs,
    )


@pytest.fixture
def server() -> Any:
    with SmtpServer() as server:
        yield server


# -- building and sending ----------------------------------------------------------------


def test_plain_send_delivers_headers_and_alternatives(server: SmtpServer) -> None:
    msg = reset_mail(html="<p>Follow <a href='http://x/'>this link</a></p>")
    reply = mailer_for(server).send(msg)

    assert reply == "2.0.0 Ok: queued as 1"
    [received] = server.received
    assert received.sender == "paperfeed@example.org"
    assert received.recipients == ["bob@example.org"]
    got = received.message
    assert got["From"] == "paperfeed <paperfeed@example.org>"
    assert got["To"] == "bob@example.org"
    assert got["Subject"] == "Réinitialiser your password"
    sent_at = got["Date"].datetime
    assert sent_at.tzinfo is not None
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60
    assert got["Message-ID"].startswith("<")
    assert got["Message-ID"].endswith("@example.org>")
    assert got.get_content_type() == "multipart/alternative"
    parts = list(got.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == "Follow this link: http://127.0.0.1:8000/reset/abc\n"
    assert "this link</a>" in parts[1].get_content()


def test_text_only_message_with_given_id_and_extra_headers(server: SmtpServer) -> None:
    msg = reset_mail(message_id="<reset-1@paperfeed.test>", headers={"X-Paperfeed": "reset"})
    mailer_for(server).send(msg)

    [got] = server.messages
    assert got.get_content_type() == "text/plain"
    assert got["Message-ID"] == "<reset-1@paperfeed.test>"
    assert got["X-Paperfeed"] == "reset"


def test_starttls_and_login() -> None:
    with SmtpServer(tls="starttls", user="alice", password="s3cret") as server:
        mailer = mailer_for(
            server,
            smtp_security="starttls",
            smtp_user="alice",
            smtp_password="s3cret",
            ssl_context=server.client_context(),
        )
        mailer.send(reset_mail())
    assert server.received[0].login == "alice"


def test_wrong_password_is_permanent() -> None:
    with SmtpServer(tls="starttls", user="alice", password="s3cret") as server:
        mailer = mailer_for(
            server,
            smtp_security="starttls",
            smtp_user="alice",
            smtp_password="wrong",
            ssl_context=server.client_context(),
        )
        with pytest.raises(PermanentMailError, match="refused login as alice: 535") as caught:
            mailer.send(reset_mail())
    assert caught.value.code == 535
    assert server.received == []


def test_untrusted_certificate_is_permanent() -> None:
    with SmtpServer(tls="starttls") as server:
        mailer = mailer_for(server, smtp_security="starttls")  # the system CAs only
        with pytest.raises(PermanentMailError, match="certificate verify failed"):
            mailer.send(reset_mail())
    assert server.received == []


def test_starttls_is_never_skipped_when_the_server_lacks_it(server: SmtpServer) -> None:
    with pytest.raises(PermanentMailError, match="STARTTLS extension not supported"):
        mailer_for(server, smtp_security="starttls").send(reset_mail())
    assert server.received == []


def test_implicit_tls() -> None:
    with SmtpServer(tls="ssl") as server:
        mailer = mailer_for(server, smtp_security="ssl", ssl_context=server.client_context())
        mailer.send(reset_mail())
    assert len(server.messages) == 1


# -- errors and retries ------------------------------------------------------------------


def test_4xx_is_temporary_and_a_retry_gets_through(server: SmtpServer) -> None:
    server.reply_for["bob@example.org"] = ["451 4.3.0 try later"]
    mailer = mailer_for(server)
    with pytest.raises(TemporaryMailError, match=re.escape("bob@example.org: 451")) as e:
        mailer.send(reset_mail())
    assert e.value.code == 451

    server.reply_for["bob@example.org"] = ["451 4.3.0 try later"]
    sleeps: list[float] = []
    send_with_retry(mailer, reset_mail(), backoff=0.5, sleep=sleeps.append)
    assert sleeps == [0.5]
    assert len(server.messages) == 1


def test_retries_back_off_exponentially_then_give_up(server: SmtpServer) -> None:
    server.reply_for["bob@example.org"] = "451 4.3.0 try later"
    sleeps: list[float] = []
    with pytest.raises(TemporaryMailError):
        send_with_retry(mailer_for(server), reset_mail(), attempts=3, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]
    assert server.messages == []


def test_5xx_is_permanent_and_not_retried(server: SmtpServer) -> None:
    server.reply_for["bounce@example.org"] = "550 5.1.1 no such user"
    sleeps: list[float] = []
    with pytest.raises(PermanentMailError) as caught:
        send_with_retry(
            mailer_for(server), reset_mail(to="bounce@example.org"), sleep=sleeps.append
        )
    assert caught.value.code == 550
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} refused recipient bounce@example.org: 550 5.1.1 no such user"
    )
    assert sleeps == []


def test_one_recipient_of_two_refused_is_permanent(server: SmtpServer) -> None:
    server.reply_for["bounce@example.org"] = "450 4.2.0 mailbox busy"
    msg = reset_mail(headers={"Cc": "bounce@example.org"})
    with pytest.raises(PermanentMailError, match=re.escape("bounce@example.org: 450")):
        mailer_for(server).send(msg)
    assert server.received[0].recipients == ["bob@example.org"]


def test_connection_refused_is_temporary() -> None:
    port = free_port()  # nothing listens there
    settings = Settings.from_env({}, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none")
    with pytest.raises(TemporaryMailError, match=f"connection to 127.0.0.1:{port} failed") as e:
        Mailer.from_settings(settings).send(reset_mail())
    assert e.value.code is None


def test_no_smtp_host_disables_mail() -> None:
    mailer = Mailer.from_settings(Settings.from_env({}))
    assert not mailer.enabled
    with pytest.raises(MailDisabled):
        mailer.send(reset_mail())
    with pytest.raises(MailDisabled), mailer:
        pass


def test_unknown_security_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="not 'tls'"):
        Mailer("smtp.example.org", security="tls")


# -- building safely ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "Hi\r\nBcc: eve@example.org"},
        {"to": "bob@example.org\nBcc: eve@example.org"},
        {"sender": "paperfeed@example.org\r\nBcc: eve@example.org"},
        {"headers": {"X-Note": "1\r\nBcc: eve@example.org"}},
        {"headers": {"X-Note\r\nBcc": "eve@example.org"}},
    ],
)
def test_header_injection_is_rejected(fields: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "sender": "paperfeed@example.org",
        "to": "bob@example.org",
        "subject": "Hi",
        "text": "hello",
        **fields,
    }
    with pytest.raises(ValueError):
        new_message(**args)


@pytest.mark.parametrize(
    "address", ["bob", "bob@", "@example.org", "a@example.org, b@example.org", "<>", ""]
)
def test_invalid_addresses_are_permanent_errors(address: str) -> None:
    with pytest.raises(PermanentMailError, match="invalid address"):
        reset_mail(to=address)


# -- connections and pace ----------------------------------------------------------------


def test_one_connection_serves_every_send_inside_with(server: SmtpServer) -> None:
    mailer = mailer_for(server)
    with mailer:
        for _ in range(3):
            mailer.send(reset_mail())
    mailer.send(reset_mail())
    mailer.send(reset_mail())

    peers = [r.peer for r in server.received]
    assert len(set(peers[:3])) == 1
    assert len(set(peers)) == 3  # outside `with`, one connection per message


def test_reconnects_when_the_server_dropped_the_idle_connection() -> None:
    with SmtpServer(idle_timeout=0.2) as server:
        mailer = mailer_for(server)
        with mailer:
            mailer.send(reset_mail())
            time.sleep(0.5)
            mailer.send(reset_mail())
    first, second = server.received
    assert first.peer != second.peer


def test_rate_limit_spaces_messages(server: SmtpServer) -> None:
    mailer = mailer_for(server, mail_rate=20.0)
    started = time.monotonic()
    with mailer:
        for _ in range(3):
            mailer.send(reset_mail())
    assert time.monotonic() - started >= 0.09  # two gaps of 1/20 s
    assert len(server.messages) == 3
