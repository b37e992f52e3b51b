"""The JSON that crosses the C ABI against the committed schemas in schema/, checked by an
independent validator (jsonschema, Draft 2020-12): every answer of a real flow on efm-sandbox,
and the requests the binding builds. A schema that drifted from what the library does fails here."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest

from eformidling import Client, EfmError, validate_config

ROOT = Path(__file__).resolve().parents[3]


def check(name: str, value: Any) -> None:
    schema = json.loads((ROOT / "schema" / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)


def refused(name: str, value: Any) -> bool:
    try:
        check(name, value)
    except jsonschema.ValidationError:
        return True
    return False


def test_requests_match_their_schemas(sandbox_dir: Path) -> None:
    config: Dict[str, Any] = json.loads((sandbox_dir / "910075918" / "config.json").read_text())
    check("config", config)
    assert refused("config", {**config, "timeouts": {"request_secs": 2**64}})
    assert refused("config", {**config, "enviroment": "test"})
    request = {"receiver": "910076787", "ttl_secs": 3600, "documents": [{"name": "a.xml", "path": "a.xml"}]}
    check("send_request", request)
    assert refused("send_request", {**request, "ttl": 5})
    assert refused("send_request", {**request, "ttl_secs": 2**62})
    # A complete SBD as the integration point's documentation writes one; a misspelt member in
    # it is refused by the schema as by the library.
    sbd = json.loads((ROOT / "tests/fixtures/nextmove/examples/ip-out-create-arkivmelding-request-cucumber.json").read_text())
    check("send_request", {"sbd": sbd, "documents": request["documents"]})
    misspelt = json.loads(json.dumps(sbd))
    misspelt["standardBusinessDocumentHeader"]["businesScope"] = misspelt["standardBusinessDocumentHeader"].pop("businessScope")
    assert refused("send_request", {"sbd": misspelt})
    check("message_filter", {"direction": "OUTGOING", "status": "LEVERT", "limit": 5})
    assert refused("message_filter", {"stauts": "LEVERT"})
    assert refused("message_filter", {"status": "LEVRT"})


def test_answers_of_a_real_flow_match_their_schemas(sandbox_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    with Client((sandbox_dir / "910075918" / "config.json").read_text()) as a, Client(
        (sandbox_dir / "984661185" / "config.json").read_text()
    ) as b:
        check("config_summary", a.config.raw)
        check("config_summary", validate_config((sandbox_dir / "910075918" / "config.json").read_text()).raw)
        check("capabilities", a.lookup("984661185").raw)
        sent = a.send("984661185", [("arkivmelding.xml", tmp_path / "arkivmelding.xml")])
        check("message_info", sent.raw)
        deadline = time.monotonic() + 20
        while True:
            summary = b.poll()
            check("poll_summary", summary.raw)
            if sent.message_id in summary.received:
                break
            assert time.monotonic() < deadline, "the message did not arrive"
            time.sleep(0.3)
        peeked = b.peek()
        assert peeked is not None
        check("incoming_message", peeked.raw)
        check("opened_message", b.pop(peeked.message_id, tmp_path / "inbox").raw)
        check("message_info", b.delete(peeked.message_id).raw)
        check("status_history", [e.raw for e in a.status(sent.message_id)])
        check("message_list", [m.raw for m in a.messages(limit=5)])
        check("expired_ids", a.expire())
        with pytest.raises(EfmError) as e:
            a.lookup("974720760")  # not registered: RECEIVER_NOT_FOUND with an HTTP status
        check("error_detail", e.value.detail)
        with pytest.raises(EfmError) as e:
            a.messages(status="LEVRT")
        check("error_detail", e.value.detail)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "schema").glob("*.schema.json")))
def test_every_schema_is_a_valid_schema(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads((ROOT / "schema" / name).read_text()))
