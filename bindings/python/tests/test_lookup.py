"""Service Registry lookups through the Python binding, against efm-sandbox."""

from pathlib import Path
from typing import Iterator

import pytest

from eformidling import Client, InvalidInputError, RemoteServiceError

PROCESS = "urn:no:difi:profile:arkivmelding:administrasjon:ver1.0"


@pytest.fixture
def client(sandbox_dir: Path) -> Iterator[Client]:
    with Client((sandbox_dir / "910075918" / "config.json").read_text()) as c:
        yield c


def test_lookup_receiver(client: Client) -> None:
    caps = client.lookup("910076787", PROCESS)
    assert caps["organisation_number"] == "910076787"
    assert caps["signed"] is True
    dpo = [c for c in caps["capabilities"] if c["service_identifier"] == "DPO"]
    assert dpo and dpo[0]["process"] == PROCESS
    assert dpo[0]["service_code"] == "4192"


def test_unknown_receiver(client: Client) -> None:
    # A valid number the sandbox has not registered.
    with pytest.raises(RemoteServiceError) as e:
        client.lookup("974720760")
    assert e.value.code == 503
    assert "974720760" in e.value.message
    assert e.value.http_status == 404


def test_bad_number_is_refused_before_any_call(client: Client) -> None:
    with pytest.raises(InvalidInputError) as e:
        client.lookup("910076788")
    assert e.value.field == "organisation_number"
