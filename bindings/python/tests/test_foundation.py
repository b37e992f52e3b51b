"""The foundation through the Python binding: load + ABI check, errors per group with details,
a caught panic, log lines reaching `logging`, configuration rejection, the client context manager."""

import json
import logging
from pathlib import Path
from typing import Any, Dict

import pytest

import eformidling
from eformidling import (
    Client,
    ConfigError,
    ConfigSummary,
    EfmError,
    Environment,
    InternalError,
    InvalidInputError,
    PanicError,
    Timeouts,
    Transport,
    validate_config,
)


@pytest.fixture
def config(tmp_path: Path) -> Dict[str, Any]:
    (tmp_path / "cert.pem").write_text("placeholder")
    (tmp_path / "key.pem").write_text("placeholder")
    return {
        "organisation_number": "910075918",
        "environment": "sandbox",
        "sandbox_url": "http://127.0.0.1:7450",
        "base_dir": str(tmp_path),
        "data_dir": "data",
        "credentials": {"client_id": "c", "certificate_pem": "cert.pem", "private_key_pem": "key.pem"},
    }


def test_loads_with_matching_abi() -> None:
    assert eformidling._native.lib.efm_abi_version() == eformidling.ABI_VERSION
    assert eformidling.library_version().count(".") == 2


def test_valid_config_summary(config: Dict[str, Any], tmp_path: Path) -> None:
    summary = validate_config(config)
    assert isinstance(summary, ConfigSummary)
    assert summary.organisation_number == "910075918"
    assert summary.environment is Environment.SANDBOX
    assert summary.transport is Transport.ALTINN3
    assert summary.urls.maskinporten_audience == "http://127.0.0.1:7450/maskinporten/"
    assert summary.data_dir == str(tmp_path / "data")
    assert summary.client_id == "c"
    assert summary.key.certificate_pem == str(tmp_path / "cert.pem")
    assert summary.key.private_key_pem == str(tmp_path / "key.pem")
    assert summary.key.pkcs12 is None and summary.key.password_from is None
    assert summary.system_user.org_id == "0192:910075918"
    assert summary.timeouts == Timeouts({}, connect_secs=10, request_secs=120)
    assert summary.kid is None and summary.message_channel is None
    assert summary.proxy == "none"
    # The JSON it was read from stays reachable, as with every result.
    assert summary["urls"]["maskinporten_audience"] == summary.urls.maskinporten_audience
    assert summary.raw["environment"] == "sandbox"


def test_config_summary_of_a_pkcs12_key_names_the_password_source(
    config: Dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "k.p12").write_bytes(b"x")
    (tmp_path / "p12-password").write_text("s3cret-hunter2")
    config["credentials"] = {"client_id": "c", "pkcs12": "k.p12", "pkcs12_password_file": "p12-password"}
    config["environment"] = "test"
    del config["sandbox_url"]
    config["transport"] = "altinn2"
    config["altinn2"] = {"username": "u", "password": "p"}
    config["timeouts"] = {"connect_secs": 3, "request_secs": 40}
    summary = validate_config(config)
    assert summary.environment is Environment.TEST
    assert summary.transport is Transport.ALTINN2
    assert summary.key.pkcs12 == str(tmp_path / "k.p12")
    assert summary.key.password_from == f"file {tmp_path / 'p12-password'}"
    assert "s3cret-hunter2" not in json.dumps(summary.raw)
    assert summary.key.certificate_pem is None
    assert summary.timeouts.connect_secs == 3 and summary.timeouts.request_secs == 40
    assert summary.urls.altinn2_broker_basic.startswith("https://")


def test_bad_orgnr_names_field(config: Dict[str, Any]) -> None:
    config["organisation_number"] = "910075919"
    with pytest.raises(InvalidInputError) as e:
        validate_config(config)
    assert e.value.code == 103
    assert e.value.field == "organisation_number"
    assert "mod-11" in e.value.message
    assert e.value.detail["group"] == "invalid_input"
    assert e.value.retryable is False


def test_unknown_environment(config: Dict[str, Any]) -> None:
    config["environment"] = "moon"
    with pytest.raises(ConfigError) as e:
        validate_config(config)
    assert e.value.code == 201
    assert "moon" in str(e.value)


def test_missing_credential_file(config: Dict[str, Any]) -> None:
    config["credentials"]["private_key_pem"] = "nope.pem"
    with pytest.raises(ConfigError) as e:
        validate_config(config)
    assert e.value.code == 202
    assert "nope.pem" in e.value.message
    assert e.value.field == "credentials.private_key_pem"


def test_malformed_json() -> None:
    with pytest.raises(InvalidInputError) as e:
        validate_config('{"organisation_number": ')
    assert e.value.code == 102


def test_password_never_in_summary(config: Dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "k.p12").write_bytes(b"x")
    config["credentials"] = {"client_id": "c", "pkcs12": "k.p12", "pkcs12_password": "s3cret-hunter2"}
    assert "s3cret-hunter2" not in json.dumps(validate_config(config).raw)


def test_panic_is_caught_and_process_survives() -> None:
    for _ in range(2):
        with pytest.raises(PanicError) as e:
            eformidling.diagnostic_panic()
        assert isinstance(e.value, InternalError) and isinstance(e.value, EfmError)
        assert e.value.code == 901
    # and the library still works afterwards
    assert eformidling.library_version()


def test_log_lines_reach_logging(config: Dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    eformidling.set_log_level(logging.DEBUG)
    with caplog.at_level(logging.DEBUG, logger="eformidling"):
        with Client(config) as client:
            assert client.config.organisation_number == "910075918"
    lines = [r for r in caplog.records if r.name == "eformidling"]
    assert any("client created for organisation 910075918" in r.getMessage() for r in lines)
    assert all(r.levelno == logging.INFO for r in lines if "client created" in r.getMessage())


def test_client_closed_is_an_error(config: Dict[str, Any]) -> None:
    client = Client(config)
    client.close()
    client.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        _ = client.config
