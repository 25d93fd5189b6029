"""Every committed suite's stage hashes, one "suite kind hash" line each, sorted.

A stage's hash names its artifact: a change to the planner that moves one invalidates stored work and breaks
the reproduction of committed reports. tests/test_plan_hashes.py compares the committed suites' hashes with
tests/plan_hashes.txt; after a deliberate change (a suite edited, a stage's parameters changed on purpose)
regenerate it:

    python scripts/plan_hashes.py --write          # DATA defaults to ../shared/data
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "plan_hashes.txt"


def committed_suites(root: Path = ROOT) -> list[Path]:
    """The suites git tracks (a user's untracked suite is not part of the snapshot); every suite file where
    the project is not a git checkout (an unpacked release)."""
    try:
        listed = subprocess.run(["git", "ls-files", "suites/*.toml"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(root)) for p in (root / "suites").glob("*.toml")]
    return [root / name for name in sorted(listed)]


def plan_hash_lines(data_root: Path, root: Path = ROOT) -> list[str]:
    from rqbench.data.resolve import resolve_spec
    from rqbench.errors import RqbenchError
    from rqbench.plan import plan_suite
    from rqbench.suite import load_suite

    def from_irds(spec: object) -> bool:
        try:
            return isinstance(spec, str) and resolve_spec(spec, data_root).irds_id is not None
        except RqbenchError:
            return False  # a folder relative to its suite: planning resolves it

    lines = []
    for path in committed_suites(root):
        suite = load_suite(path)
        specs = [suite.dataset, *(ev.dataset for ev in suite.evaluations),
                 *((v.train or {}).get("dataset") for v in suite.variants)]
        if any(from_irds(spec) for spec in specs):
            continue  # ir_datasets data (suites/rocketqa-official.toml): not planned here, never downloaded
        plan = plan_suite(suite, data_root)
        lines += [f"{path.stem} {node.kind.name} {digest}" for digest, node in plan.nodes.items()]
    return sorted(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--write", action="store_true", help=f"write {SNAPSHOT.relative_to(ROOT)}")
    args = parser.parse_args()
    text = "\n".join(plan_hash_lines(args.data.resolve())) + "\n"
    if args.write:
        SNAPSHOT.write_text(text, encoding="utf-8")
        print(f"wrote {len(text.splitlines())} hashes to {SNAPSHOT.relative_to(ROOT)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
