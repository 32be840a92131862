"""The README cannot drift: its commands exist and its tables come from the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[list[str]]:
    """The `paperfeed ...` invocations in the README's shell blocks, without arguments."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["paperfeed"]:
                commands.append(
                    [w for w in words[1:] if not w.startswith(("-", ".", "/")) and "." not in w]
                )
    return commands


@pytest.mark.parametrize("command", readme_commands(), ids=" ".join)
def test_readme_commands_exist(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paperfeed", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_readme_make_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"`make (\w+)`", README)):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
