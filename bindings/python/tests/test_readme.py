"""The README's examples are the files in tests/readme/ (so the C and C# runners compile exactly
what the README shows), and the Python one runs against efm-sandbox as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["example.c", "example.py", "Example.cs"])
def test_readme_shows_the_tested_file(name: str) -> None:
    readme = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- tests/readme/{re.escape(name)}:[^>]*-->\n```\w+\n(.*?)```\n", readme, re.S)
    assert m, f"README has no block marked tests/readme/{name}"
    assert m.group(1) == (ROOT / "tests" / "readme" / name).read_text(), f"README and tests/readme/{name} differ"


def test_python_example_runs_against_the_sandbox(sandbox_dir: Path, tmp_path: Path) -> None:
    shutil.copy(sandbox_dir / "910075918" / "config.json", tmp_path / "efm.json")
    (tmp_path / "arkivmelding.xml").write_text("<arkivmelding/>")
    (tmp_path / "vedtak.pdf").write_bytes(os.urandom(200_000))
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "readme" / "example.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "DPO"
    assert re.search(r"^(\d+)/\1$", run.stdout, re.M), "the last progress line shows all bytes"
    assert lines[-1].startswith("['OPPRETTET', 'SENDT'")
    assert "INFO:eformidling:" in run.stderr  # the logging line of the example works as written
