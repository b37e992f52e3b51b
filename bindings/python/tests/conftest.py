"""A running efm-sandbox for the binding tests that talk to services (binary from EFM_SANDBOX_BIN)."""

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    binary = Path(os.environ.get("EFM_SANDBOX_BIN", "target/debug/efm-sandbox"))
    assert binary.exists(), f"efm-sandbox not found at {binary}; build it or set EFM_SANDBOX_BIN"
    directory = tmp_path_factory.mktemp("sandbox")
    log = open(directory.parent / "binding-sandbox.log", "w")
    proc = subprocess.Popen(
        [str(binary), "--dir", str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    assert line.startswith("efm-sandbox listening on "), line
    try:
        yield directory
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        log.close()
