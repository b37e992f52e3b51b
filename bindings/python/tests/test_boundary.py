"""The Python side of the boundary: typed results, strict requests, NUL refused, progress
callbacks that raise or cancel, closed clients, closing while another thread is in a call, and the
native log level following the logger (the README example, run as written)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from eformidling import (
    CancelledError,
    Client,
    Direction,
    InvalidInputError,
    MessageInfo,
    ResultCode,
    Status,
)

RECEIVER = "910076787"


@pytest.fixture
def client(sandbox_dir: Path) -> Iterator[Client]:
    with Client((sandbox_dir / "910075918" / "config.json").read_text()) as c:
        yield c


@pytest.fixture
def xml(tmp_path: Path) -> Path:
    path = tmp_path / "arkivmelding.xml"
    path.write_text("<arkivmelding/>")
    return path


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 16384)  # 4 MiB: many progress calls
    return path


def test_results_are_typed(client: Client, xml: Path) -> None:
    sent = client.send(RECEIVER, [("arkivmelding.xml", xml)])
    assert isinstance(sent, MessageInfo)
    assert sent.status is Status.SENDT and sent.direction is Direction.OUTGOING
    assert sent["message_id"] == sent.message_id  # the JSON stays readable
    history = client.status(sent.message_id)
    assert [e.status for e in history] == [Status.OPPRETTET, Status.SENDT]
    listed = client.messages(direction=Direction.OUTGOING, message_id=sent.message_id, limit=1)
    assert [m.message_id for m in listed] == [sent.message_id]
    caps = client.lookup(RECEIVER)
    assert caps.signed and any(c.service_identifier == "DPO" for c in caps.capabilities)
    summary = client.poll()
    assert isinstance(summary.received, list) and summary.errors == []


def test_unknown_members_and_values_are_named(client: Client, xml: Path) -> None:
    with pytest.raises(InvalidInputError) as e:
        client.send(RECEIVER, [("arkivmelding.xml", xml)], ttl=60)
    assert e.value.field == "ttl" and e.value.code == ResultCode.INVALID_ARGUMENT
    with pytest.raises(InvalidInputError) as e:
        client.messages(status="LEVRT")
    assert e.value.field == "status"
    with pytest.raises(InvalidInputError) as e:
        client.send(RECEIVER, [("arkivmelding.xml", xml)], ttl_secs=2**62)
    assert e.value.field == "ttl_secs"
    with pytest.raises(InvalidInputError) as e:
        client.send(RECEIVER, [("arkivmelding.xml", "/dev/zero")])
    assert e.value.field == "documents[0].path"
    # A complete SBD is read as strictly: a misspelt member deep inside it is named, its value not.
    sbd = {
        "standardBusinessDocumentHeader": {
            "documentIdentification": {"type": "arkivmelding", "instanceIdentifer": "secret-ish"},
        },
        "arkivmelding": {"hoveddokument": "arkivmelding.xml"},
    }
    with pytest.raises(InvalidInputError) as e:
        client.send(RECEIVER, [("arkivmelding.xml", xml)], sbd=sbd)
    assert e.value.field == "sbd.standardBusinessDocumentHeader.documentIdentification.instanceIdentifer"
    assert "secret-ish" not in str(e.value)


def test_nul_in_an_id_is_refused_not_cut(client: Client) -> None:
    for call in (client.status, client.delete, lambda i: client.pop(i, "inbox")):
        with pytest.raises(InvalidInputError) as e:
            call("00000000-0000-4000-8000-000000000000\0trailing")
        assert e.value.field == "message_id"
        assert isinstance(e.value, ValueError)


def test_closed_client_raises_value_error(sandbox_dir: Path) -> None:
    client = Client((sandbox_dir / "910075918" / "config.json").read_text())
    client.close()
    client.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        client.poll()


def test_exception_in_progress_is_raised_from_the_call(client: Client, xml: Path, big: Path) -> None:
    class Stop(Exception):
        pass

    calls: List[int] = []
    # send's progress counts the document bytes packed, then the package bytes uploaded: raise
    # once the upload has begun, so the package exists and the message can be resent.
    packed = xml.stat().st_size + big.stat().st_size

    def progress(done: int, total: int) -> None:
        if done <= packed:
            return
        calls.append(done)
        raise Stop("from the callback")

    with pytest.raises(Stop, match="from the callback"):
        client.send(RECEIVER, [("arkivmelding.xml", xml), ("big.bin", big)], progress=progress)
    assert len(calls) == 1  # no report after the one that raised
    failed = client.messages(direction="outgoing", status=Status.FEIL, limit=1)
    assert failed, "the cancelled message is kept as FEIL"
    resent = client.resend(failed[0].message_id)
    assert resent.status is Status.SENDT


def test_progress_returning_false_cancels(client: Client, xml: Path, big: Path) -> None:
    with pytest.raises(CancelledError) as e:
        client.send(RECEIVER, [("arkivmelding.xml", xml), ("big.bin", big)], progress=lambda d, t: False)
    assert e.value.code == ResultCode.CANCELLED


def test_close_while_another_thread_is_inside_a_call(sandbox_dir: Path, xml: Path, big: Path) -> None:
    client = Client((sandbox_dir / "910075918" / "config.json").read_text())
    inside, release = threading.Event(), threading.Event()
    result: List[Optional[MessageInfo]] = [None]

    def progress(done: int, total: int) -> None:
        if not inside.is_set():
            inside.set()
            release.wait(10)

    def send() -> None:
        result[0] = client.send(RECEIVER, [("arkivmelding.xml", xml), ("big.bin", big)], progress=progress)

    worker = threading.Thread(target=send)
    worker.start()
    assert inside.wait(10)
    client.close()  # returns at once; the native client lives until the send returns
    with pytest.raises(ValueError):
        client.poll()
    release.set()
    worker.join(30)
    sent = result[0]
    assert sent is not None and sent.status is Status.SENDT


README_LOGGING = """
import logging, sys, eformidling
logging.basicConfig(level=logging.INFO)
with eformidling.Client(open(sys.argv[1]).read()) as client:
    pass
"""


def test_native_log_level_follows_the_python_logger(sandbox_dir: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", README_LOGGING, str(sandbox_dir / "910075918" / "config.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "INFO:eformidling:" in run.stderr and "client created for organisation 910075918" in run.stderr
