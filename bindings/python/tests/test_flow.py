"""The whole DPO flow through the Python binding, between two organisations on efm-sandbox."""

import hashlib
import json
import time
import urllib.request
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

from eformidling import (
    CancelledError,
    Client,
    CryptoError,
    PackageError,
    PollSummary,
    QuarantineKind,
    RemoteServiceError,
    RetryOutcomeKind,
    Retrying,
    WorkSummary,
)


def client_for(sandbox_dir: Path, orgnr: str) -> Client:
    return Client((sandbox_dir / orgnr / "config.json").read_text())


def sandbox_fault(sandbox_dir: Path, path: str, status: int, method: str) -> None:
    """Make efm-sandbox answer the next ``method`` request under ``path`` with ``status``."""
    base = json.loads((sandbox_dir / "910075918" / "config.json").read_text())["sandbox_url"]
    spec = {"kind": "status", "status": status, "method": method, "path": path, "times": 1}
    request = urllib.request.Request(
        f"{base}/admin/faults", json.dumps(spec).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status < 300


def poll_until(
    client: Client, predicate: Callable[[PollSummary], bool], what: str, seconds: float = 20
) -> PollSummary:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        summary = client.poll()
        if predicate(summary):
            return summary
        time.sleep(0.3)  # the broker publishes after its virus scan
    pytest.fail(f"{what} did not happen within {seconds} s")


def test_send_receive_and_statuses(sandbox_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    pdf = tmp_path / "vedtak.pdf"
    pdf.write_bytes(bytes(range(256)) * 4000)
    progress: List[Tuple[int, int]] = []
    with client_for(sandbox_dir, "910075918") as a, client_for(sandbox_dir, "984661185") as b:
        sent = a.send(
            "984661185",
            [("arkivmelding.xml", tmp_path / "arkivmelding.xml"), ("vedtak.pdf", pdf)],
            progress=lambda done, total: progress.append((done, total)),
        )
        assert sent.status == "SENDT"
        assert progress and progress[-1][0] == progress[-1][1] > 0
        mid = sent.message_id
        # The broker fails the next look at the transfer once: run_due follows it (nothing is left
        # to upload) and reports the message as retrying, with its attempt and the error.
        sandbox_fault(sandbox_dir, f"/broker/api/v1/filetransfer/{sent.transfer_id}", 503, "GET")
        due = a.run_due()
        assert isinstance(due, WorkSummary)
        assert due.failed == [] and due.sent == [] and due.waiting_uploads == 0, due
        assert due["waiting_uploads"] == 0  # the JSON stays readable as before
        # (messages earlier tests sent from 910075918 may still be followed too)
        (ours,) = [r for r in due.retrying if r.message_id == mid]
        assert isinstance(ours, Retrying) and ours.attempts >= 1 and "503" in ours.error, due.retrying
        assert ours.next_attempt and ours.raw["message_id"] == mid

        poll_until(b, lambda s: mid in s.received, "delivery to 984661185")
        peeked = b.peek()
        assert peeked is not None and peeked.message_id == mid
        assert peeked.sbd["standardBusinessDocumentHeader"]["sender"][0]["identifier"]["value"] == "0192:910075918"
        opened = b.pop(mid, tmp_path / "inbox")
        files = {f.name: f for f in opened.files}
        got = open(files["vedtak.pdf"].path, "rb").read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(pdf.read_bytes()).digest()
        assert opened.signer is not None and "910075918" in opened.signer
        b.delete(mid)
        assert b.peek() is None
        assert [s["status"] for s in b.status(mid)][-1] == "INNKOMMENDE_LEVERT"

        poll_until(
            a,
            lambda s: [x["status"] for x in a.status(mid)][-1] == "LEVERT",
            "LEVERT back to 910075918",
        )
        history = [s["status"] for s in a.status(mid)]
        assert history == ["OPPRETTET", "SENDT", "MOTTATT", "LEVERT"], history
        outgoing = a.messages(direction="outgoing", message_id=mid)
        assert len(outgoing) == 1 and outgoing[0]["status"] == "LEVERT"


def test_send_reports_its_phases_and_cancels_in_one(sandbox_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    pdf = tmp_path / "vedtak.pdf"
    pdf.write_bytes(bytes(range(256)) * 8000)
    docs = [("arkivmelding.xml", tmp_path / "arkivmelding.xml"), ("vedtak.pdf", pdf)]
    seen: List[Tuple[str, int, int]] = []
    with client_for(sandbox_dir, "910075918") as a:
        sent = a.send("984661185", docs, phase_progress=lambda p, d, t: seen.append((p, d, t)))
        assert sent.status == "SENDT"
        phases = [p for p, _, _ in seen]
        # packing first, then uploading, each ending at its own total
        assert phases[0] == "packing" and phases[-1] == "uploading", phases
        assert phases == sorted(phases, key=["packing", "uploading"].index), phases
        for phase in ("packing", "uploading"):
            last = [(d, t) for p, d, t in seen if p == phase][-1]
            assert last[0] == last[1] > 0, (phase, last)
        packing_total = [t for p, _, t in seen if p == "packing"][-1]
        assert packing_total == pdf.stat().st_size + len("<arkivmelding/>")

        # false in the upload phase cancels; the message waits as FEIL for a resend
        stopped: List[str] = []

        def stop_uploading(phase: str, done: int, total: int) -> bool:
            stopped.append(phase)
            return phase != "uploading"

        with pytest.raises(CancelledError):
            a.send("984661185", docs, phase_progress=stop_uploading)
        assert stopped[-1] == "uploading" and stopped.count("uploading") == 1, stopped
        with pytest.raises(ValueError):
            a.send("984661185", docs, progress=lambda d, t: None, phase_progress=lambda p, d, t: None)


def test_unknown_receiver_is_refused_before_upload(sandbox_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    with client_for(sandbox_dir, "910075918") as a:
        with pytest.raises(RemoteServiceError) as e:
            a.send("974720760", [("arkivmelding.xml", tmp_path / "arkivmelding.xml")])
        assert e.value.code == 503


def test_a_message_that_cannot_be_opened_is_quarantined_and_managed(sandbox_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    with client_for(sandbox_dir, "910075918") as a, client_for(sandbox_dir, "910076787") as b:
        mid = a.send("910076787", [("arkivmelding.xml", tmp_path / "arkivmelding.xml")])["message_id"]
        poll_until(b, lambda s: mid in s["received"], "delivery to 910076787")
        # Other tests may have left older messages for 910076787 in this sandbox: peek (and
        # so lock) past them to ours.
        peeked = b.peek()
        while peeked is not None and peeked.message_id != mid:
            peeked = b.peek()
        assert peeked is not None
        # Damage the stored package inside its encrypted part.
        package = peeked["payload"]
        data = bytearray(open(package, "rb").read())
        data[len(data) // 2] ^= 0x55
        open(package, "wb").write(bytes(data))
        with pytest.raises((PackageError, CryptoError)):
            b.pop(mid, tmp_path / "inbox")
        assert b.peek() is None  # ours left the queue; any older ones stay locked by our peeks
        entries = b.quarantine()
        assert [(e.kind, e.message_id) for e in entries] == [(QuarantineKind.UNOPENABLE, mid)]
        assert entries[0]["kind"] == "UNOPENABLE"  # the JSON stays readable as before
        entry = entries[0]
        assert entry.sender == "0192:910075918" and entry.transfer_id == peeked.transfer_id
        assert entry.payload is not None and entry.size == len(data) and entry.reason and entry.code > 0
        b.quarantine_export(entry.id, tmp_path / "kept.zip")
        assert (tmp_path / "kept.zip").read_bytes() == bytes(data)
        outcome = b.quarantine_retry(entry.id)
        assert (outcome.outcome, outcome.message_id, outcome.reason) == (RetryOutcomeKind.REQUEUED, mid, None)
        assert outcome.raw == {"outcome": "requeued", "message_id": mid}
        again = b.peek()
        assert again is not None and again.message_id == mid
        with pytest.raises((PackageError, CryptoError)):
            b.pop(mid, tmp_path / "inbox")
        (entry,) = b.quarantine()
        assert entry.kind is QuarantineKind.UNOPENABLE
        b.quarantine_delete(entry.id)
        assert b.quarantine() == []
        assert [s["status"] for s in b.status(mid)][-1] == "FEIL"


def test_one_configuration_serves_two_organisations_in_one_store(sandbox_dir: Path, tmp_path: Path) -> None:
    import json

    from eformidling import ConfigError

    a_config = json.loads((sandbox_dir / "910075918" / "config.json").read_text())
    c_config = json.loads((sandbox_dir / "984661185" / "config.json").read_text())
    shared = dict(
        a_config,
        data_dir=str(tmp_path / "shared"),
        organisations=[{"organisation_number": "984661185", "credentials": c_config["credentials"]}],
    )
    text = json.dumps(shared)
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    with Client(text) as a, Client(text, organisation="984661185") as c:
        assert a.config["organisation_number"] == "910075918"
        assert c.config["organisation_number"] == "984661185"
        assert [o["organisation_number"] for o in c.config["organisations"]] == ["910075918", "984661185"]
        mid = a.send("984661185", [("arkivmelding.xml", tmp_path / "arkivmelding.xml")]).message_id
        poll_until(c, lambda s: mid in s.received, "delivery to 984661185 in the shared store")
        # One store, two organisations: each sees its own side of the message only.
        assert [(m.direction, m.message_id) for m in a.messages(message_id=mid)] == [("OUTGOING", mid)]
        assert [(m.direction, m.message_id) for m in c.messages(message_id=mid)] == [("INCOMING", mid)]
        assert a.peek() is None
        # The queue is 984661185's (it may also hold what earlier tests left for 984661185).
        queued = []
        while (peeked := c.peek()) is not None:
            queued.append(peeked.message_id)
        assert mid in queued
    with pytest.raises(ConfigError) as e:
        Client(text, organisation="910076787")
    assert e.value.field == "organisation_number"
