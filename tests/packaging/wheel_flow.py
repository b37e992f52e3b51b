"""What a Python user does after `pip install eformidling-*.whl`: a lookup, and a document sent by
910075918 and received by 910076787 through efm-sandbox, with nothing set in the environment.

    python wheel_flow.py SANDBOX_DIR SCRATCH_DIR EXPECTED_VERSION

Run by scripts/test-packages.sh with `env -i` in a fresh virtual environment holding only the wheel.
"""

import hashlib
import os
import sys
import time
from pathlib import Path

import eformidling
from eformidling import Client, _native


def poll_until(client, predicate, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate(client.poll()):
            return
        time.sleep(0.3)
    sys.exit(f"{what} did not happen within {seconds} s")


def main():
    sandbox, scratch, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    assert not any(k.startswith("EFM_") for k in os.environ), "the environment must be empty of EFM_*"
    lib = Path(_native._find_library())
    site = Path(eformidling.__file__).resolve().parent
    assert lib.parent == site / "_lib", f"library {lib} is not the one inside the installed package {site}"
    loaded = eformidling.library_version()
    assert loaded == version, f"the wheel's library is {loaded}, expected {version}"

    a = Client((sandbox / "910075918" / "config.json").read_text())
    b = Client((sandbox / "910076787" / "config.json").read_text())
    capabilities = a.lookup("910076787")
    assert "910076787" in str(capabilities), capabilities

    (scratch / "arkivmelding.xml").write_text("<arkivmelding/>")
    doc = scratch / "brev.pdf"
    doc.write_bytes(os.urandom(200_000))
    sent = a.send("910076787", [("arkivmelding.xml", scratch / "arkivmelding.xml"), ("brev.pdf", doc)])
    mid = sent["message_id"]
    poll_until(b, lambda s: mid in s["received"], "delivery to 910076787")
    assert b.peek()["message_id"] == mid
    opened = b.pop(mid, scratch / "inbox")
    got = {f["name"]: Path(f["path"]).read_bytes() for f in opened["files"]}
    assert hashlib.sha256(got["brev.pdf"]).digest() == hashlib.sha256(doc.read_bytes()).digest()
    b.delete(mid)
    poll_until(a, lambda s: a.status(mid)[-1]["status"] == "LEVERT", "LEVERT back to 910075918")
    a.close()
    b.close()
    print(f"wheel consumer: lookup and send/receive through {lib} (efm {loaded})")


if __name__ == "__main__":
    main()
