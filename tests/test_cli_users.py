"""`paperfeed users` and `paperfeed tokens` as an operator runs them (real processes)."""

from __future__ import annotations

import subprocess
import sys

from paperfeed.community.auth import Accounts, LoginFailed
from paperfeed.settings import Settings
from paperfeed.store import Store, utcnow
from test_cli import paperfeed


def _with_stdin(text: str, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    env["PAPERFEED_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "paperfeed", *args],
        input=text,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_users_and_tokens(store: Store) -> None:
    url = store.url
    made = _with_stdin(
        "a long passphrase\n",
        *("users", "create", "ada", "--email", "ada@example.org", "--password-stdin", "--admin"),
        url=url,
    )
    assert made.returncode == 0, made.stderr
    assert "created admin ada" in made.stdout
    accounts = Accounts(store, Settings.from_env({}, database_url=url), utcnow)
    assert accounts.authenticate("ADA@example.org", "a long passphrase").is_admin
    taken = paperfeed("users", "create", "Ada", url=url, check=False)
    assert taken.returncode == 1 and "username is taken" in taken.stderr
    weak = _with_stdin("short\n", "users", "create", "bob", "--password-stdin", url=url)
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr
    paperfeed("users", "create", "bob", "--role", "moderator", url=url)
    paperfeed("users", "create", "carol", url=url)  # two accounts without an address
    try:
        accounts.authenticate("bob", "")  # no password yet: cannot log in
        raise AssertionError("logged in without a password")
    except LoginFailed:
        pass
    reset = _with_stdin("bob's new passphrase\n", "users", "password", "bob", url=url)
    assert reset.returncode == 0, reset.stderr
    assert accounts.authenticate("bob", "bob's new passphrase").role == "moderator"
    listing = paperfeed("users", "list", url=url).stdout
    assert "ada\tadmin\tada@example.org" in listing and "bob\tmoderator" in listing

    created = paperfeed("tokens", "create", "ada", "--label", "script", url=url)
    token = created.stdout.strip()
    assert token.startswith("pf_") and "shown only now" in created.stderr
    assert accounts.token_user(token).username == "ada"  # type: ignore[union-attr]
    tokens = paperfeed("tokens", "list", url=url).stdout
    assert f"{token[:9]}…\tada\tscript\tlive" in tokens and token not in tokens
    token_id = tokens.split("\t")[0]
    assert paperfeed("tokens", "revoke", token_id, url=url).stdout.strip().endswith("revoked")
    assert accounts.token_user(token) is None
    again = paperfeed("tokens", "revoke", token_id, url=url, check=False)
    assert again.returncode == 1 and "no live token" in again.stderr

    banned = paperfeed("users", "ban", "bob", "--reason", "test", url=url)
    assert "bob is banned" in banned.stdout
    assert store.community.user_by_name("bob").is_banned  # type: ignore[union-attr]
    (entry,) = store.community.moderation_log()
    assert (entry.actor_name, entry.action, entry.target_id) == ("(command line)", "ban", "bob")
    paperfeed("users", "ban", "bob", "--unban", url=url)
    assert not store.community.user_by_name("bob").is_banned  # type: ignore[union-attr]
    assert paperfeed("users", "role", "nobody", "admin", url=url, check=False).returncode == 1
