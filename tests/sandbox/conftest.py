"""The session-wide efm-sandbox process for the conformance tests (helpers: efm_sandbox_support)."""

import subprocess

import pytest

from efm_sandbox_support import Sandbox, sandbox_binary


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    binary = sandbox_binary()
    assert binary.exists(), (
        f"efm-sandbox binary not found at {binary}: build it with `cargo build -p efm-sandbox` "
        "or set EFM_SANDBOX_BIN"
    )
    directory = tmp_path_factory.mktemp("efm-sandbox")
    # The log goes to a file: an unread pipe could fill up and block the server.
    log = open(directory.parent / "efm-sandbox.log", "w")
    proc = subprocess.Popen(
        [str(binary), "--dir", str(directory), "--virus-scan-delay-ms", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("efm-sandbox listening on http://127.0.0.1:"), (
        f"unexpected first line {line!r}; see {log.name}"
    )
    base_url = line.rsplit(" ", 1)[1]
    try:
        yield Sandbox(base_url, directory)
    finally:
        proc.stdin.close()  # closing stdin stops the sandbox
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
