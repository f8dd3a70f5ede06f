"""The suite's own harness: the end-to-end tests really run in one line under xdist.

``tests/conftest.py`` puts them in one ``xdist_group``; with ``--dist loadgroup`` xdist must
then send them all to one worker. pytest 9.2 broke that silently (pytest-xdist issue 1386:
the tests were spread over every worker, and the PostgreSQL restart test cut the other
PostgreSQL tests' connections), so this runs a small suite of its own, grouped by the same
hook, on two workers, and looks at where each test ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GROUPED_TESTS = """
import os
from pathlib import Path

import pytest


@pytest.mark.parametrize("n", range(4))
def test_records_its_worker(n):
    here = Path(__file__).parent.parent / "workers"
    here.mkdir(exist_ok=True)
    name = Path(__file__).stem
    (here / f"{name}-{n}").write_text(os.environ.get("PYTEST_XDIST_WORKER", "none"))
"""


def test_end_to_end_tests_run_on_one_worker_under_loadgroup(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's addopts
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n"
    )
    e2e = tmp_path / "e2e"
    e2e.mkdir()
    for name in ("test_one.py", "test_two.py"):
        (e2e / name).write_text(GROUPED_TESTS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-p",
            "no:cacheprovider",
            "e2e",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workers = {path.name: path.read_text() for path in (tmp_path / "workers").iterdir()}
    assert len(workers) == 8, workers
    assert len(set(workers.values())) == 1, workers  # all on gw0, or all on gw1
    assert set(workers.values()) <= {"gw0", "gw1"}
