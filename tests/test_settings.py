from pathlib import Path

import pytest

from paperfeed.settings import SETTINGS, Settings, SettingsError, env_sample, markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_give_a_sqlite_file_in_the_data_dir() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8000
    assert settings.resolved_database_url == "sqlite:///var/paperfeed.sqlite3"


def test_environment_overrides_and_types() -> None:
    settings = Settings.from_env({"PAPERFEED_PORT": "9000", "PAPERFEED_DATA_DIR": "/tmp/x"})
    assert settings.port == 9000
    assert settings.data_dir == Path("/tmp/x")


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PAPERFEED_PAGE_SIZE='many' is not a valid int"):
        Settings.from_env({"PAPERFEED_PAGE_SIZE": "many"})


def test_every_setting_is_a_field() -> None:
    assert [s.name for s in SETTINGS] == list(Settings.__dataclass_fields__)


def test_env_sample_is_generated_from_the_declarations() -> None:
    assert (ROOT / ".env.sample").read_text() == env_sample() + "\n"


def test_readme_configuration_table_is_current() -> None:
    assert markdown_table() in (ROOT / "README.md").read_text()
