"""Every committed suite plans to the stage hashes recorded in tests/plan_hashes.txt: a refactor of the planner
or of a stage's parameters that moved a hash would orphan stored artifacts and the committed reports' hashes.
A deliberate change regenerates the file (scripts/plan_hashes.py --write)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "plan_hashes.py"


def _script():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("plan_hashes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_committed_suite_plans_to_its_recorded_stage_hashes(data_root: Path) -> None:
    script = _script()
    recorded = script.SNAPSHOT.read_text(encoding="utf-8").splitlines()
    now = script.plan_hash_lines(data_root)
    assert len(now) > 500  # every suite planned (a missing data set would be an error, not an empty plan)
    moved = sorted(set(recorded) ^ set(now))
    suites = Counter(line.split()[0] for line in moved)
    assert not moved, (f"{len(moved)} stage hash lines differ from tests/plan_hashes.txt, in suites "
                       f"{dict(suites)}: if deliberate, run `python scripts/plan_hashes.py --write`; "
                       f"first: {moved[:4]}")
