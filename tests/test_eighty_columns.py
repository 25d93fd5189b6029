"""Issue 20, item 16: every table reads at 80 columns, piped or with COLUMNS=80 (a default terminal). The
leaderboard, `plan`, `stages`, `backends` and the metrics table `run` prints, through the real CLI: no line
over 80 characters, no identifier cut (`md0[seed=13]` stays whole, never `md0[seed=1…`), no word split
(`random_negatives=0`, never `random_negativ es=0`), no header one character per line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NDCG = "nDCG@10"


def cli(*args: str, cwd: Path | None = None, columns: str | None = "80",
        extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | (extra or {})
    if columns is not None:
        env["COLUMNS"] = columns
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc


def assert_fits(text: str, width: int = 80) -> list[str]:
    lines = text.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, "\n".join(too_long)
    assert "…" not in text  # nothing cut
    return lines


def whole(text: str, word: str) -> bool:
    """`word` appears unbroken on one line."""
    return any(word in line for line in text.splitlines())


# --- leaderboard ------------------------------------------------------------------------------------------

LONG = ["published-splade-pp-ensemble-distil", "bm25-rm3-tuned-on-dev", "de-pretrained-minilm-l6"]


def _records(root: Path) -> None:
    """Three suites, four evaluation sets, long names and a multi-seed arm: far too wide for 80 columns."""
    def record(variant: str, dataset: str, value: float, **extra: object) -> dict:
        per_query = {f"q{i}": min(1.0, value + (i % 3) / 20) for i in range(8)}
        return {"schema": 1, "record_id": f"{abs(hash((variant, dataset))):032x}",
                "created": "2025-02-01T00:00:00+00:00", "variant": variant,
                "dataset": {"name": dataset, "split": "test"},
                "metrics": {NDCG: sum(per_query.values()) / 8, "RR@10": value},
                "per_query": {NDCG: per_query, "RR@10": dict.fromkeys(per_query, value)},
                "system": {"name": variant, "run": f"{variant}-{dataset}"}, **extra}

    for s, suite in enumerate(("suite-one", "suite-two", "suite-three")):
        recs = [record(name, ds, 0.3 + 0.1 * i + (0.05 * s if ds != "msmarco-dl19-mini" else 0.0))
                for i, name in enumerate(LONG) for ds in (f"dataset-{suite}", "msmarco-dl19-mini")]
        recs += [record(f"md0[seed={seed}]", f"dataset-{suite}", 0.5 + seed / 100, arm="md0", seed=seed)
                 for seed in (13, 14)]
        folder = root / suite
        folder.mkdir(parents=True)
        (folder / "records.jsonl").write_text("".join(json.dumps({**r, "suite": suite}) + "\n" for r in recs))


@pytest.mark.parametrize("columns", ["80", None])  # COLUMNS=80, and piped with no COLUMNS at all
def test_leaderboard_at_80_columns(tmp_path: Path, columns: str | None) -> None:
    _records(tmp_path)
    out = cli("leaderboard", str(tmp_path), "-m", "nDCG@10 RR@10", columns=columns).stdout
    assert_fits(out)
    for name in [*LONG, "md0 (2 seeds)", "msmarco-dl19-mini (test)", "dataset-suite-three (test)", NDCG, "RR@10"]:
        assert whole(out, name), name
    assert not any(line.strip() in ("n", "D", "C", "G", "┃ ┃") for line in out.splitlines())  # no 1-char headers


def test_leaderboard_in_a_wide_terminal_is_one_table(tmp_path: Path) -> None:
    _records(tmp_path)
    out = cli("leaderboard", str(tmp_path), "-m", "nDCG@10", columns="400").stdout
    assert_fits(out, 400)
    assert sum(line.split()[:2] == ["#", "system"] for line in out.splitlines()) == 1  # the board in one table


# --- plan, stages, backends -------------------------------------------------------------------------------

def test_plan_at_80_columns_keeps_every_seed_whole(tmp_path: Path, repo_root: Path, data_root: Path) -> None:
    out = cli("plan", str(repo_root / "suites" / "rocketqa-scifact.toml"), "--store", str(tmp_path / "store"),
              extra={"RQBENCH_DATA": str(data_root)}).stdout
    assert_fits(out)
    for arm in ("md0", "md0-inbatch", "md1", "md1-undenoised", "md2", "mc"):
        for seed in (13, 14, 15):
            assert whole(out, f"{arm}[seed={seed}]"), f"{arm}[seed={seed}]"


def test_stages_at_80_columns_never_splits_a_word() -> None:
    from rqbench.stages import describe_kinds

    out = cli("stages").stdout
    assert_fits(out)
    for kind in describe_kinds():
        assert whole(out, f"{kind['name']} v{kind['version']}")
        for p in kind["params"]:
            token = p["name"] + ("" if p["required"] else f"={p['default']!r}")
            assert whole(out, token), token  # e.g. random_negatives=0, exclude_query_id=False
        for word in kind["doc"].split():
            assert whole(out, word), word


def test_train_help_at_80_columns_lists_every_setting() -> None:
    from dataclasses import fields

    from rqbench.training.config import TrainConfig

    out = cli("train", "--help").stdout
    assert_fits(out)
    for field in fields(TrainConfig):
        assert whole(out, field.name), field.name


def test_backends_at_80_columns_shows_whole_targets() -> None:
    from rqbench.backend import registry

    out = cli("backends").stdout
    assert_fits(out)
    for info in registry().values():
        assert whole(out, info.target), info.target


# --- run --------------------------------------------------------------------------------------------------

def test_run_metrics_table_at_80_columns(tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{q}{s}", "title": "", "text": f"doc {q}{s}"})
                                               + "\n" for q in range(1, 11) for s in "ab"))
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": str(q), "text": f"query {q}"}) + "\n"
                                                for q in range(1, 11)))
    (data / "qrels" / "test.tsv").write_text("".join(f"{q}\td{q}a\t1\n" for q in range(1, 11)))
    names = {"bm25-rm3-tuned": lambda q: True, "dense-minilm-l6-v2": lambda q: q < 6,
             "splade-pp-distil": lambda q: q % 2}
    body = ('[suite]\nname = "wide"\ndataset = "tiny"\nsplit = "test"\nbaseline = "bm25-rm3-tuned"\n'
            'measures = ["RR@10", "nDCG@10", "R@100", "AP", "P@1", "Success@1", "nDCG@5"]\n')
    for name, hit in names.items():
        (tmp_path / f"{name}.trec").write_text("".join(
            f"{q} Q0 d{q}{'a' if hit(q) else 'b'} 1 2.0 t\n{q} Q0 d{q}{'b' if hit(q) else 'a'} 2 1.0 t\n"
            for q in range(1, 11)))
        body += (f'\n[[variants]]\nname = "{name}"\nbackend = "trec-run"\n'
                 f'params = {{ path = "{{suite_dir}}/{name}.trec" }}\n')
    (tmp_path / "suite.toml").write_text(body)
    out = cli("run", "suite.toml", "--store", str(tmp_path / "store"), cwd=tmp_path).stdout
    assert_fits(out)
    for word in [*names, "nDCG@10", "Success@1", "R@100"]:
        assert whole(out, word), word


def test_data_inspect_and_eval_prose_read_at_80_columns(data_root: Path, tmp_path: Path) -> None:
    """`data inspect`'s warnings (a 168-character line on DL19) and `eval`'s measure definitions (172) were
    single long lines when piped; they fold at spaces under their bullet, nothing cut."""
    env = {**os.environ, "COLUMNS": "80"}
    dl19 = data_root / "msmarco-dl19"
    commands = {"inspect": ["data", "inspect", str(dl19)],
                "eval": ["eval", str(dl19 / "qrels.dl19.txt"), str(dl19 / "runs" / "bm25.dl19.trec"),
                         "-m", "nDCG@10 RR@10"]}
    texts = {}
    for name, args in commands.items():
        done = subprocess.run([sys.executable, "-m", "rqbench.cli", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        texts[name] = done.stdout + done.stderr
        assert max(len(line) for line in texts[name].splitlines()) <= 80, texts[name]
    assert "name 3441 documents not in the corpus" in " ".join(texts["inspect"].split())
    assert "averaged over all judged queries" in " ".join(texts["eval"].split())
