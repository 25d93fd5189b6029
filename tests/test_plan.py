"""The stage graph: a suite planned as one graph before any work, on the pure-Python import backend (no
JVM, no torch) where possible: references between variants, cycles, type errors, shared nodes built
once, several evaluation sets, records built from the graph, and the silent ablation defects now errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rqbench.errors import RqbenchError
from rqbench.plan import plan_suite
from rqbench.suite import load_suite

RUNS = """
[[variants]]
name = "top50"
backend = "trec-run"
# a run of the 10 mini queries, also scored on all 43 DL19 queries (the others score 0): allowed, on purpose
params = {{ path = "{data}/msmarco-dl19-mini/bm25.top50.trec", allow_partial = true }}

[[variants]]
name = "top50-again"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19-mini/bm25.top50.trec", allow_partial = true }}

[[variants]]
name = "published-bm25"
backend = "trec-run"
params = {{ path = "{data}/msmarco-dl19/runs/bm25.dl19.trec" }}
"""

IMPORT_SUITE = """
[suite]
name = "imports"
dataset = "msmarco-dl19-mini"
split = "test"
measures = ["RR@10", "nDCG@10"]
baseline = "top50"
depth = 100

[[evaluation]]
name = "mini"

[[evaluation]]
name = "dl19"
dataset = "msmarco-dl19"
split = "dl19"
measures = ["nDCG@10", "R(rel=2)@100"]
""" + RUNS

DENSE = 'backend = "dense"\nparams = { max_query_length = 16, max_passage_length = 32 }\n'


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def dense_suite(tmp_path: Path, variants: str, name: str = "suite.toml") -> Path:
    head = '[suite]\nname = "graph"\ndataset = "scifact"\nsplit = "test"\nmeasures = ["nDCG@10"]\n\n'
    return write(tmp_path, head + '[[variants]]\nname = "bm25"\nbackend = "bm25"\n\n' + variants, name)


def variant(name: str, train: str, extra: str = "") -> str:
    return f'[[variants]]\nname = "{name}"\n{DENSE}train = {{ {train} }}\n{extra}\n'


def planning_error(path: Path, data_root: Path) -> RqbenchError:
    with pytest.raises(RqbenchError) as info:
        plan_suite(load_suite(path), data_root)
    return info.value


def test_import_suite_plans_shares_and_runs_without_jvm_or_torch(tmp_path: Path, data_root: Path) -> None:
    """Two names for one run file are one import node; one record per (variant, evaluation set); no
    JVM or torch is loaded to plan, run and record a suite of external runs, with two parallel jobs."""
    suite = write(tmp_path, IMPORT_SUITE.format(data=data_root))
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from rich.console import Console
        from rqbench.artifacts import ArtifactStore
        from rqbench.runner import run_suite
        from rqbench.suite import load_suite
        records = run_suite(load_suite({str(suite)!r}), store=ArtifactStore({str(tmp_path / 'store')!r}),
                            results_root=Path({str(tmp_path / 'results')!r}), data_root=Path({str(data_root)!r}),
                            console=Console(stderr=True), jobs=2)
        heavy = sorted(m for m in ("torch", "jnius", "faiss", "transformers") if m in sys.modules)
        print(json.dumps({{"records": records, "heavy": heavy}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    records = result["records"]
    assert [(r["variant"], r["evaluation"]["name"]) for r in records] == [
        (v, e) for e in ("mini", "dl19") for v in ("top50", "top50-again", "published-bm25")]
    by = {(r["variant"], r["evaluation"]["name"]): r for r in records}
    # the same file under two names: one import node, one evaluate node per evaluation set
    assert by["top50", "mini"]["system"]["run"] == by["top50-again", "mini"]["system"]["run"]
    hashes = {v: by[v, "mini"]["artifact_hashes"] for v in ("top50", "top50-again")}
    assert hashes["top50"]["evaluate"] == hashes["top50-again"]["evaluate"]
    # imported per split: each evaluation set's run holds that split's queries only
    assert by["top50", "mini"]["system"]["run"] != by["top50", "dl19"]["system"]["run"]
    # each evaluation set has its own measures, and the published DL19 figure is reproduced
    assert set(by["published-bm25", "dl19"]["metrics"]) == {"nDCG@10", "R(rel=2)@100"}
    assert round(by["published-bm25", "dl19"]["metrics"]["nDCG@10"], 4) == 0.5058
    # records are built from the graph: every stage names its inputs by hash, import -> evaluate
    stages = by["published-bm25", "dl19"]["stages"]
    assert [s["kind"] for s in stages] == ["import", "evaluate"]
    assert stages[1]["inputs"] == {"run": stages[0]["hash"]}
    # one run file per (variant, evaluation set): no overwriting
    assert len({r["run_file"] for r in records}) == len(records)


def test_plan_command_shows_cached_and_to_build(tmp_path: Path, data_root: Path) -> None:
    suite = write(tmp_path, IMPORT_SUITE.format(data=data_root))
    env = {**os.environ, "COLUMNS": "150", "RQBENCH_DATA": str(data_root)}

    def rq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=300)

    before = rq("plan", str(suite), "--json")
    assert before.returncode == 0, before.stderr
    rows = json.loads(before.stdout)
    assert [r["kind"] for r in rows].count("import") == 4  # 2 files x 2 splits: top50 and top50-again share
    assert not any(r["cached"] for r in rows)
    shared = next(r for r in rows if r["kind"] == "import" and "top50@mini" in r["used_by"])
    assert set(shared["used_by"]) == {"top50@mini", "top50-again@mini"}
    assert rq("run", str(suite)).returncode == 0
    after = json.loads(rq("plan", str(suite), "--json").stdout)
    assert all(r["cached"] for r in after) and [r["hash"] for r in after] == [r["hash"] for r in rows]
    text = rq("plan", str(suite)).stdout
    assert "cached" in text and "import" in text and "evaluate" in text
    listing = rq("stages")
    assert listing.returncode == 0
    for kind in ("index", "retrieve", "import", "evaluate", "groups", "mine", "train"):
        assert kind in listing.stdout


def test_reference_to_a_trained_variant_is_its_checkpoint(tmp_path: Path, data_root: Path) -> None:
    """md1 mines with md0's *trained* model: the index its mining run comes from takes md0's train node as
    its model input (hash equality), and another suite naming the same md0 reuses the same artifacts."""
    md0 = variant("md0", 'negatives = "in-batch", batch_size = 8, max_steps = 2')
    md1 = variant("md1", 'hard_negatives = 2, mine_from = "md0", mine_depth = 20, batch_size = 8, max_steps = 2')
    plan = plan_suite(load_suite(dense_suite(tmp_path, md0 + md1)), data_root)
    steps = {(p.variant.name, role): node for p in plan.evaluations for role, node in p.steps}
    md0_train = steps["md0", "train"]
    mine = steps["md1", "mine"]
    mining_run = mine.inputs["run"].node
    assert mining_run.params.split == "train" and mining_run.params.depth == 20
    mining_index = mining_run.inputs["index"].node
    assert mining_index.inputs["model"].node is md0_train
    assert mining_index.inputs["model"].node.hash == md0_train.hash
    # md0's own evaluation index on the same corpus is the very same node (built once)
    assert mining_index is steps["md0", "index"]
    assert steps["md1", "mine_from:train"] is md0_train
    # a second suite with md0 under another file and extra variants: same hashes (hashes follow artifacts)
    other = plan_suite(load_suite(dense_suite(tmp_path, md1.replace("md1", "z") + md0, "other.toml")), data_root)
    other_steps = {(p.variant.name, role): node for p in other.evaluations for role, node in p.steps}
    assert other_steps["md0", "train"].hash == md0_train.hash
    assert other_steps["z", "mine"].hash == mine.hash
    # starting from md0's checkpoint: the train node's init input is md0's train node
    md2 = variant("md2", 'init_from = "md0", batch_size = 8, max_steps = 2')
    init_plan = plan_suite(load_suite(dense_suite(tmp_path, md0 + md2, "init.toml")), data_root)
    trains = {p.variant.name: dict(p.steps)["train"] for p in init_plan.evaluations if p.variant.name != "bm25"}
    assert trains["md2"].inputs["init"].node is trains["md0"] and trains["md2"].params.base == {}


@pytest.mark.parametrize(("variants", "problem"), [
    (variant("a", 'hard_negatives = 1, mine_from = "b"') + variant("b", 'hard_negatives = 1, mine_from = "a"'),
     "cycle: a -> b -> a"),
    (variant("a", 'hard_negatives = 1, mine_from = "a"'), "cycle: a -> a"),
    (variant("a", 'init_from = "bm25"'), "variant 'bm25' has no [variants.train]"),
    (variant("a", 'hard_negatives = 1, mine_from = "nobody"'), "unknown variant 'nobody'"),
    (variant("a", 'negatives = "cross-batch"'), "needs train.nproc >= 2"),
    (variant("a", 'exclude_positives = false'), "unknown parameter 'exclude_positives'"),
    (variant("a", 'hard_negatives = 1'), "hard_negatives needs train.mine_from"),
    (variant("a", 'mine_from = "bm25"'), "mined negatives would not be used"),
    (variant("a", 'split = "dev"'), "no queries and qrels for split 'dev'"),
    (variant("a", 'random_negatives = 1, sample = "best"'), "train.sample must be 'random'"),
    (variant("a", 'sample = "top"'), "train.sample without hard_negatives or random_negatives"),
    (variant("a", 'mine_depth = 30'), "train.mine_depth without train.mine_from"),
    (variant("a", 'torchrun_args = ["--nnodes", "2"]'), "for several machines use `rqbench train`"),
    (variant("a", 'dataset = 3'), "train.dataset must be a dataset name"),
    (variant("a", 'task = "ranker"'), "unknown training task 'ranker'"),
    ('[[variants]]\nname = "a"\nbackend = "dense"\nparams = { query_model = "minilm" }\ntrain = { epochs = 1 }\n',
     "params.query_model with [variants.train]"),
])
def test_graph_errors_are_one_line_with_file_and_line(tmp_path: Path, data_root: Path, variants: str,
                                                      problem: str) -> None:
    path = dense_suite(tmp_path, variants)
    try:
        plan_suite(load_suite(path), data_root)
    except RqbenchError as exc:
        line = exc.one_line()
        assert problem in line and "\n" not in line
        assert re.match(rf"{re.escape(str(path))}:\d+: ", line), line
    else:
        pytest.fail("planning should have failed")


def test_unknown_evaluation_split_and_measure_fail_before_any_work(tmp_path: Path, data_root: Path) -> None:
    bad_split = write(tmp_path, IMPORT_SUITE.format(data=data_root).replace('split = "dl19"', 'split = "dl20"'))
    err = planning_error(bad_split, data_root)
    assert "no queries and qrels for split 'dl20'" in err.problem and err.line is not None
    bad_measure = write(tmp_path, IMPORT_SUITE.format(data=data_root).replace('"R(rel=2)@100"', '"Rcall@100"'),
                        "measure.toml")
    assert "Rcall@100" in planning_error(bad_measure, data_root).one_line()
    bad_name = write(tmp_path, IMPORT_SUITE.format(data=data_root) + 'evaluate_on = ["dl20"]\n', "on.toml")
    with pytest.raises(RqbenchError, match="unknown evaluation set 'dl20'"):
        load_suite(bad_name)


def test_import_is_restricted_to_the_split_and_drops_the_query_id(tmp_path: Path, data_root: Path) -> None:
    """An external run is scored like a retrieved one: the split's queries only, hits equal to the query id
    dropped under exclude_query_id, and a run that covers none of the split's queries is an error."""
    from rich.console import Console

    from rqbench.artifacts import ArtifactStore
    from rqbench.runner import run_suite
    from rqbench.types import read_trec_run

    mini = data_root / "msmarco-dl19-mini"
    qid = (mini / "queries.tsv").read_text().split("\t", 1)[0]
    lines = (mini / "bm25.top50.trec").read_text().splitlines()
    (tmp_path / "run.trec").write_text("\n".join([f"{qid} Q0 {qid} 0 999.0 self", "elsewhere Q0 d1 1 5.0 x",
                                                  *lines]) + "\n")
    suite = write(tmp_path, f"""
        [suite]
        name = "self"
        dataset = "{mini}"
        measures = ["RR@10"]
        exclude_query_id = true
        [[variants]]
        name = "run"
        backend = "trec-run"
        params = {{ path = "{tmp_path / 'run.trec'}" }}
        """)
    console = Console(stderr=True, quiet=True)
    (record,) = run_suite(load_suite(suite), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "r",
                          data_root=data_root, console=console)
    run = read_trec_run(tmp_path / "r" / "self" / record["run_file"])
    assert "elsewhere" not in run and qid in run and qid not in {h.docid for h in run[qid]}
    other = write(tmp_path, suite.read_text().replace(str(tmp_path / "run.trec"), str(tmp_path / "other.trec")),
                  "other.toml")
    (tmp_path / "other.trec").write_text("elsewhere Q0 d1 1 5.0 x\n")
    with pytest.raises(RqbenchError, match="has none of the 10 queries of split 'test'"):
        run_suite(load_suite(other), store=ArtifactStore(tmp_path / "store"), results_root=tmp_path / "r",
                  data_root=data_root, console=console)
