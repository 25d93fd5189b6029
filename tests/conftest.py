"""Shared fixtures: the real data lives outside the project, in ../shared/data (or $RQBENCH_TEST_DATA)."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.process
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# One torch/OpenMP thread per test process (pytest-xdist runs a worker per core): OpenMP threads that spin at
# barriers while another process holds the other core made torch-heavy tests tenfold slower on busy cores.
# Tests that are about threads set their own counts; a caller's OMP_NUM_THREADS is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("RQBENCH_TEST_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


BIO_WORDS = ["protein", "cell", "gene", "tumour", "vaccine", "virus", "enzyme", "receptor", "neuron", "mutation",
             "insulin", "membrane", "antibody", "plasma", "kinase", "signal", "dose", "trial", "cohort", "risk"]


def bio_text(i: int, n: int) -> str:
    """A deterministic synthetic text of about `n` words (varies with `i`), for tiny-model training tests."""
    return " ".join(BIO_WORDS[(i * 7 + j * 3) % len(BIO_WORDS)] for j in range(n + i % 5))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA_ROOT / "scifact" / "corpus.jsonl").exists():
        pytest.fail(f"test data not found at {DATA_ROOT}; set RQBENCH_TEST_DATA to the shared data folder")
    return DATA_ROOT


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@contextlib.contextmanager
def _forked(target: Callable[..., None], *args: object) -> Iterator[multiprocessing.process.BaseProcess]:
    proc = multiprocessing.get_context("fork").Process(target=target, args=args)
    proc.start()
    try:
        yield proc
    finally:
        proc.join(timeout=120)
        if proc.is_alive():  # a child that hangs (say, waiting on a parent that failed) is not left behind
            proc.kill()
            proc.join()


@pytest.fixture
def forked() -> Callable[..., contextlib.AbstractContextManager[multiprocessing.process.BaseProcess]]:
    """`with forked(target, *args) as proc:` runs `target(*args)` in a forked child process while the block runs;
    leaving the block waits for it (2 minutes at most, then kills it); `proc.exitcode` is its exit code
    (-9 after a SIGKILL).

    A real process: SIGKILL ends it like any other, and what it leaves in files is all another process sees.
    Forking, not a fresh interpreter, skips seconds of CPU importing torch and transformers again. The target
    must keep to one torch thread (`torch.set_num_threads(1)`), so that the child never asks for the OpenMP
    pool the parent may have started (GNU OpenMP's pool does not survive a fork)."""
    return _forked


def shuffled_top30(data_root: Path, out: Path) -> Path:
    """A second run to fuse with msmarco-dl19-mini's BM25 top 50 without a JVM: its top 30 per query in a
    seeded shuffle, with descending scores, so the two rankings disagree."""
    import random

    from rqbench.types import read_trec_run

    source = read_trec_run(data_root / "msmarco-dl19-mini" / "bm25.top50.trec")
    lines = []
    for qid, hits in sorted(source.items()):
        docs = [h.docid for h in hits[:30]]
        random.Random(qid).shuffle(docs)
        lines += [f"{qid} Q0 {d} {rank} {30 - rank}.5 other" for rank, d in enumerate(docs, start=1)]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def scifact_subset(data_root: Path, out: Path) -> Path:
    """A small real SciFact in `out`: 48 training and 24 test queries with their judged abstracts plus the first
    150 of the corpus (~250 passages), and 30 unlabeled queries; for end-to-end runs with tiny models."""
    import json

    src = data_root / "scifact"
    rows = {split: (src / "qrels" / f"{split}.tsv").read_text().splitlines()[1:] for split in ("train", "test")}
    out.mkdir()
    (out / "qrels").mkdir()
    docs: set[str] = set()
    qids: set[str] = set()
    for split, n in (("train", 48), ("test", 24)):
        keep = sorted({r.split("\t")[0] for r in rows[split]})[:n]
        lines = [r for r in rows[split] if r.split("\t")[0] in keep]
        docs |= {r.split("\t")[1] for r in lines}
        qids |= set(keep)
        (out / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    docs |= {d["_id"] for d in corpus[:150]}
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus if d["_id"] in docs))
    queries = [q for q in (src / "queries.jsonl").read_text().splitlines() if json.loads(q)["_id"] in qids]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n")
    unlabeled = (src / "queries.unlabeled.jsonl").read_text().splitlines()[:30]
    (out / "queries.unlabeled.jsonl").write_text("\n".join(unlabeled) + "\n")
    return out


@pytest.fixture
def dump_dom(tmp_path: Path):
    """`dump_dom(page, fragment="")`: the DOM of a local HTML page after its scripts ran, from Debian's
    headless chromium (installed by scripts/install.sh). No browser is a failure, never a skip."""
    import shutil
    import subprocess

    browser = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                    if (found := shutil.which(name))), None)
    if browser is None:
        pytest.fail("no headless browser (chromium) on PATH: run `bash scripts/install.sh` (as root it installs "
                    "Debian's chromium) or `apt-get install --no-install-recommends chromium`")

    def dump(page: Path, fragment: str = "") -> str:
        url = page.as_uri() + (f"#{fragment}" if fragment else "")
        cmd = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom", url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and "</html>" in done.stdout, f"{browser} failed: {done.stderr[-2000:]}"
        return done.stdout

    return dump


# The modules that take longest (seconds, measured on 2 quiet cores), longest first: pytest-xdist hands whole modules
# (`--dist loadscope`) to whichever worker runs out of work, in collection order (`--no-loadscope-reorder`: by
# default xdist puts the modules with the most tests first, which left the 93-second module with one test to the
# end and the other worker idle for 100 s). A stale list costs only time; the tests and their order inside a
# module are unchanged.
LONGEST_FIRST = ("test_cross_encoder_beats_bm25", "test_training", "test_train_pipeline", "test_pipeline",
                 "test_cross_encoder_training", "test_dense", "test_cross_batch", "test_cli_compare",
                 "test_cli_usage", "test_bm25", "test_input_validation", "test_javaenv", "test_rocketqa_pipeline",
                 "test_joint_pipeline", "test_joint_real_data", "test_executors", "test_readme_walkthrough",
                 "test_train_out", "test_plan", "test_report", "test_compare_report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the modules longest first (LONGEST_FIRST, then the rest as collected)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        name = item.module.__name__.rpartition(".")[2] if item.module else ""
        return rank.get(name, len(rank))

    items.sort(key=key)
