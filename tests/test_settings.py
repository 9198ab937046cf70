"""Settings: environment and TOML sources, and production mode refusing default secrets."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from staydown.clock import OffsetClock, utcnow
from staydown.settings import ConfigurationError, Settings, load_settings

STRONG = "x" * 40
NCMEC = {
    "ncmec_url": "https://report.cybertip.org/ispws",
    "ncmec_username": "esp",
    "ncmec_password": "secret",
    "ncmec_reporter_email": "safety@platform.example",
    "ncmec_reporter_first_name": "Safety",
    "ncmec_reporter_last_name": "Team",
}
VAULT_KEY = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w="  # base64 of 32 bytes


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path.as_posix()}/staydown.db"
    assert s.is_sqlite


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("STAYDOWN_PORT", "9001")
    s = Settings()
    assert s.database_url == "postgresql://u@h/db" and s.port == 9001 and not s.is_sqlite


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "staydown.toml"
    config.write_text('port = 9100\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("STAYDOWN_CONFIG_FILE", str(config))
    monkeypatch.setenv("STAYDOWN_LOG_LEVEL", "WARNING")
    s = Settings()
    assert s.port == 9100 and s.log_level == "WARNING"


def test_unknown_setting_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "staydown.toml"
    config.write_text("prot = 9100\n")
    monkeypatch.setenv("STAYDOWN_CONFIG_FILE", str(config))
    with pytest.raises(Exception, match="prot"):
        Settings()


def test_production_refuses_default_secrets_and_names_each() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(env="production", public_base_url="https://t.example")
    text = str(info.value)
    for name in ("STAYDOWN_SECRET_KEY", "STAYDOWN_WEBHOOK_SECRET", "STAYDOWN_VAULT_MASTER_KEY"):
        assert name in text


def test_production_refuses_missing_and_short_secrets() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(
            env="production",
            secret_key="",
            webhook_secret="short",
            vault_master_key=VAULT_KEY,
            public_base_url="https://t.example",
        )
    text = str(info.value)
    assert "STAYDOWN_SECRET_KEY is missing" in text
    assert "STAYDOWN_WEBHOOK_SECRET is shorter than 32" in text
    assert "VAULT" not in text


def test_production_with_real_secrets_starts() -> None:
    s = load_settings(
        env="production",
        secret_key=STRONG,
        webhook_secret=STRONG + "w",
        vault_master_key=VAULT_KEY,
        public_base_url="https://t.example",
        **NCMEC,
    )
    assert s.env.value == "production"


def test_development_allows_defaults() -> None:
    assert load_settings(env="development").production_problems() == []


def test_production_refuses_a_vault_key_that_is_not_32_bytes() -> None:
    with pytest.raises(ConfigurationError, match="STAYDOWN_VAULT_MASTER_KEY: a vault master key is"):
        load_settings(
            env="production",
            secret_key=STRONG,
            webhook_secret=STRONG,
            vault_master_key=STRONG,
            public_base_url="https://t.example",
        )


def test_production_checks_the_ncmec_configuration() -> None:
    """CSAM-2: the provider's NCMEC details are configuration, checked at start-up."""
    with pytest.raises(ConfigurationError) as info:
        load_settings(
            env="production",
            secret_key=STRONG,
            webhook_secret=STRONG,
            vault_master_key=VAULT_KEY,
            public_base_url="https://t.example",
        )
    for name in ("STAYDOWN_NCMEC_URL", "STAYDOWN_NCMEC_PASSWORD", "STAYDOWN_NCMEC_REPORTER_EMAIL"):
        assert name in str(info.value)


def test_production_refuses_a_moved_clock(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="STAYDOWN_CLOCK_OFFSET_FILE"):
        load_settings(
            env="production",
            secret_key=STRONG,
            webhook_secret=STRONG + "w",
            vault_master_key=VAULT_KEY,
            public_base_url="https://t.example",
            clock_offset_file=tmp_path / "offset",
            **NCMEC,
        )


def test_offset_clock_follows_its_file(tmp_path: Path) -> None:
    """A test or drill moves a real server's clock by writing seconds to a file."""
    path = tmp_path / "offset"
    clock = OffsetClock(str(path))
    assert abs(clock.now() - utcnow()) < timedelta(seconds=1)  # no file: no offset
    path.write_text(str(73 * 3600))
    assert abs(clock.now() - utcnow() - timedelta(hours=73)) < timedelta(seconds=1)
    path.write_text("not a number")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1))
    assert abs(clock.now() - utcnow() - timedelta(hours=73)) < timedelta(seconds=1)  # keeps the last good one
    path.write_text("-60")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2))
    assert abs(clock.now() - utcnow() + timedelta(minutes=1)) < timedelta(seconds=1)


NCA = {
    "uk_nca_reporting": True,
    "uk_nca_url": "https://nca.example.test/csea/v1",
    "uk_nca_token": "t" * 40,
    "uk_nca_provider": "uk",
    "uk_nca_organisation_id": "ORG-0001",
    "uk_nca_authorised_person_name": "Safety Lead",
    "uk_nca_authorised_person_email": "safety@platform.example",
}


def test_uk6_nca_reporting_is_off_by_default_and_needs_nothing_then() -> None:
    """UK-6: off unless the platform serves UK users; off, production asks for no NCA setting."""
    s = load_settings(
        env="production",
        secret_key=STRONG,
        webhook_secret=STRONG,
        vault_master_key=VAULT_KEY,
        public_base_url="https://t.example",
        **NCMEC,
    )
    assert s.uk_nca_reporting is False and s.uk_nca_url is None


def test_uk6_production_checks_the_nca_configuration_when_reporting_is_on() -> None:
    """UK-6: turned on, the endpoint, token, provider kind and registration are checked at start-up."""
    base = dict(
        env="production",
        secret_key=STRONG,
        webhook_secret=STRONG,
        vault_master_key=VAULT_KEY,
        public_base_url="https://t.example",
        **NCMEC,
    )
    with pytest.raises(ConfigurationError) as info:
        load_settings(**base, uk_nca_reporting=True)
    for name in (
        "STAYDOWN_UK_NCA_URL",
        "STAYDOWN_UK_NCA_TOKEN",
        "STAYDOWN_UK_NCA_PROVIDER",
        "STAYDOWN_UK_NCA_ORGANISATION_ID",
        "STAYDOWN_UK_NCA_AUTHORISED_PERSON_EMAIL",
    ):
        assert name in str(info.value)
    with pytest.raises(ConfigurationError, match="STAYDOWN_UK_NCA_URL must be https"):
        load_settings(**base, **{**NCA, "uk_nca_url": "http://nca.example.test"})
    s = load_settings(**base, **NCA)
    assert s.uk_nca_token is not None and "t" * 40 not in repr(s)  # a secret, never printed


def test_uk6_nca_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAYDOWN_UK_NCA_REPORTING", "true")
    monkeypatch.setenv("STAYDOWN_UK_NCA_PROVIDER", "non_uk")
    s = Settings()
    assert s.uk_nca_reporting is True and s.uk_nca_provider == "non_uk"
    monkeypatch.setenv("STAYDOWN_UK_NCA_PROVIDER", "elsewhere")
    with pytest.raises(Exception, match="uk_nca_provider"):
        Settings()
