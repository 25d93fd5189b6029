"""Inputs that used to give silently wrong numbers or tracebacks (issue 20, items 5-7): control characters in
ids, relevance grades outside pytrec_eval's range, and models with fewer positions than the token budget.
CLI behaviour through the real `rqbench` command; models are tiny random BERTs, no training beyond one step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.data.readers import read_corpus, read_queries
from rqbench.errors import RqbenchError
from rqbench.types import RELEVANCE_MAX, RELEVANCE_MIN, read_qrels, read_trec_run

CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x9b"]  # NUL, SOH, ESC, DEL, a C1 control (CSI)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ---- item 5: control characters in ids -------------------------------------------------------------


def test_eval_refuses_nul_in_ids_instead_of_wrong_metrics(tmp_path: Path) -> None:
    """'d\\x001' and 'd\\x002' are both 'd' to pytrec_eval: nDCG@10 1.0 and AP 1.0 for a run that misses."""
    qrels, run, clean_qrels = tmp_path / "qrels.txt", tmp_path / "run.trec", tmp_path / "clean.txt"
    qrels.write_text("q1 0 d1 0\nq1 0 d\x001 1\n")
    run.write_text("q1 Q0 d2 1 3.0 t\nq1 Q0 d\x002 2 2.0 t\n")
    clean_qrels.write_text("q1 0 d1 1\n")
    line = one_line_error(cli("eval", str(qrels), str(run), "-m", "nDCG@10"))
    assert line.endswith(f"{qrels}:2: document id 'd\\x001' contains a control character"), line
    line = one_line_error(cli("eval", str(clean_qrels), str(run), "-m", "nDCG@10"))
    assert line.endswith(f"{run}:2: document id 'd\\x002' contains a control character"), line


@pytest.mark.parametrize("char", CONTROLS)
def test_control_characters_in_run_and_qrels_ids_are_errors_with_file_and_line(tmp_path: Path, char: str) -> None:
    run, qrels = tmp_path / "run.trec", tmp_path / "qrels.txt"
    run.write_text(f"q1 Q0 d1 1 2.0 t\nq{char}2 Q0 d1 1 2.0 t\n")
    with pytest.raises(RqbenchError, match=r"query id .* contains a control character") as caught:
        read_trec_run(run)
    assert (caught.value.path, caught.value.line) == (str(run), 2)
    qrels.write_text(f"q1\t0\td{char}\t1\n")
    with pytest.raises(RqbenchError, match=r"document id .* contains a control character") as caught:
        read_qrels(qrels)
    assert (caught.value.path, caught.value.line) == (str(qrels), 1)
    assert char not in caught.value.one_line()  # escaped, so the message stays one readable line


def test_corpus_and_query_readers_refuse_control_characters(tmp_path: Path) -> None:
    cases = [
        (read_corpus, "corpus.jsonl", json.dumps({"_id": "ok", "text": "a"}) + "\n"
         + json.dumps({"_id": "d\x00", "text": "b"}) + "\n", 2),
        (read_corpus, "corpus.tsv", "d1\ttext\nd\x7f2\ttext\n", 2),
        (read_corpus, "docs.trec", "<DOC>\n<DOCNO>d1</DOCNO>\ntext\n</DOC>\n"
         "<DOC>\n<DOCNO>d\x012</DOCNO>\nx\n</DOC>\n", 6),
        (read_queries, "queries.tsv", "q\x9b1\tquery text\n", 1),
        (read_queries, "queries.jsonl", json.dumps({"_id": "q\x00", "text": "t"}) + "\n", 1),
    ]
    for read, name, text, line in cases:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(RqbenchError, match="contains a control character") as caught:
            read(path)
        assert (caught.value.path, caught.value.line) == (str(path), line), name


def write_dataset(folder: Path, corpus_id: str = "d2", grade: str = "1") -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "text": f"text {i}"}) + "\n"
                                                 for i in ("d1", corpus_id)))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a query"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t{grade}\n")
    return folder


def test_data_inspect_lists_control_characters_and_bad_grades(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "mydata", corpus_id="d\x002", grade="4294967296")
    proc = cli("data", "inspect", str(data), "--json")
    assert proc.returncode == 2, proc.stderr
    problems = {(Path(p["path"]).name, p["line"]): p["problem"] for p in json.loads(proc.stdout)["problems"]}
    assert "contains a control character" in problems[("corpus.jsonl", 2)]
    assert "outside the accepted range" in problems[("test.tsv", 2)]


SUITE = ('[suite]\nname = "guarded"\ndataset = "mydata"\nsplit = "test"\nmeasures = ["nDCG@10"]\n\n'
         '[[variants]]\nname = "mine"\nbackend = "trec-run"\nparams = { path = "{suite_dir}/run.trec" }\n')


@pytest.mark.parametrize("broken", ["run", "qrels"])
def test_suites_refuse_control_characters_and_bad_grades(tmp_path: Path, broken: str) -> None:
    write_dataset(tmp_path / "mydata", grade="1" if broken == "run" else str(10**23))
    (tmp_path / "run.trec").write_text("q1 Q0 d1 1 2.0 t\n" if broken == "qrels" else "q1 Q0 d\x001 1 2.0 t\n")
    (tmp_path / "suite.toml").write_text(SUITE)
    line = one_line_error(cli("run", str(tmp_path / "suite.toml"), cwd=tmp_path))
    if broken == "run":
        assert line.endswith("run.trec:1: document id 'd\\x001' contains a control character"), line
    else:
        assert f"test.tsv:2: relevance {10**23} is outside the accepted range" in line, line


# ---- item 6: relevance grades --------------------------------------------------------------------------


@pytest.mark.parametrize("grade", [str(2**32), str(10**23)])
def test_eval_refuses_grades_outside_the_documented_range(tmp_path: Path, grade: str) -> None:
    """4294967296 wrapped to 0 (AP 0.0), 10**23 was a SystemError traceback."""
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.trec"
    qrels.write_text(f"q1 0 d2 1\nq1 0 d1 {grade}\n")
    run.write_text("q1 Q0 d2 1 2.0 t\nq1 Q0 d1 2 1.0 t\n")
    line = one_line_error(cli("eval", str(qrels), str(run), "-m", "AP"))
    assert f"{qrels}:2: relevance {grade} is outside the accepted range -65535..65535" in line, line


@pytest.mark.parametrize("grade", [str(10**12), "1e23", str(2**31 - 1), str(RELEVANCE_MAX + 1), str(RELEVANCE_MIN - 1),
                                   "9" * 200])
def test_qrels_reader_refuses_every_grade_outside_the_range(tmp_path: Path, grade: str) -> None:
    """2**31 - 1 fits a C int, but pytrec_eval sizes arrays by the largest grade: 16 GB and a minute."""
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t{grade}\n")
    with pytest.raises(RqbenchError, match="is outside the accepted range") as caught:
        read_qrels(qrels)
    assert caught.value.line == 3 and len(caught.value.problem) < 150  # a huge number is cut in the message


def test_grades_inside_the_range_still_evaluate(tmp_path: Path) -> None:
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.trec"
    qrels.write_text(f"q1 0 d1 {RELEVANCE_MAX}\nq1 0 d2 2\nq2 0 d3 {RELEVANCE_MIN}\nq2 0 d4 1\n")
    run.write_text("q1 Q0 d9 1 3.0 t\nq1 Q0 d1 2 2.0 t\nq1 Q0 d2 3 1.0 t\nq2 Q0 d4 1 1.0 t\n")
    assert read_qrels(qrels)["q1"]["d1"] == RELEVANCE_MAX
    proc = cli("eval", str(qrels), str(run), "-m", "AP", "-m", "R@100", "--json", "--per-query")
    assert proc.returncode == 0, proc.stderr
    per_query = json.loads(proc.stdout)["runs"][0]["per_query"]
    assert per_query["AP"]["q1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert per_query["R@100"] == {"q1": 1.0, "q2": 1.0}


def test_readme_documents_the_grade_range(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    assert f"from {RELEVANCE_MIN} to {RELEVANCE_MAX}" in readme


# ---- item 7: models with fewer positions than the token budget -----------------------------------------

LONG = " ".join(["word"] * 60)  # about 60 tokens: more than the tiny model's 16 positions


@pytest.fixture(scope="module")
def short_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT with 16 positions (the defaults ask for 64 query and 256 passage tokens)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from rqbench.models.hf import packaged_minilm

    folder = tmp_path_factory.mktemp("short") / "short16"
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def notes(err: str) -> list[str]:
    return [line for line in err.splitlines() if "holds 16 positions" in line]


def test_encoding_caps_lengths_at_the_models_positions(short_bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rqbench.dense.encoding import encode_texts, token_lengths
    from rqbench.models.dual_encoder import DualEncoder

    model = DualEncoder.load(str(short_bert))
    assert model.config.max_passage_length == 256
    vectors = encode_texts(model, [LONG, "short", LONG + " more"], side="passage", batch_size=2)
    queries = encode_texts(model, [LONG], side="query")
    assert vectors.shape == (3, 16) and queries.shape == (1, 16)
    assert token_lengths(model, [LONG], "passage").tolist() == [16]
    encode_texts(model, [LONG], side="passage")  # the note is printed once, not per call
    shown = notes(capsys.readouterr().err)
    assert len(shown) == 2, shown
    assert "max_passage_length 256 capped to 16" in shown[0] + shown[1]
    assert "max_query_length 64 capped to 16" in shown[0] + shown[1]


def test_cross_encoder_scoring_caps_max_length(short_bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rqbench.models.cross_encoder import CrossEncoder

    model = CrossEncoder.load(str(short_bert))
    scores = model.score([("a query", LONG), (LONG, "short"), ("q", "p")], batch_size=2, precision="fp32")
    assert scores.shape == (3,) and model.token_lengths([("a query", LONG)]).tolist() == [16]
    shown = notes(capsys.readouterr().err)
    assert len(shown) == 1 and "max_length 256 capped to 16" in shown[0], shown


def test_train_cli_caps_instead_of_a_tensor_size_traceback(tmp_path: Path, short_bert: Path) -> None:
    """Training tokenizes through the same models: `rqbench train` used to exit 1 with a raw traceback."""
    from rqbench.training.groups import Passage, TrainingGroup, write_groups

    groups = tmp_path / "groups.jsonl"
    write_groups([TrainingGroup(f"q{i}", f"query {i} {LONG}", (Passage(f"d{i}", f"positive {LONG}"),),
                                (Passage(f"n{i}", f"negative {LONG}"),)) for i in range(2)], groups)
    proc = cli("train", "--groups", str(groups), "--out", str(tmp_path / "out"), "--quiet", "--set",
               f"model={short_bert}", "--set", "max_steps=1", "--set", "batch_size=2", "--set", "threads=1")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "max_passage_length 256 capped to 16" in proc.stderr
    assert (tmp_path / "out" / "model" / "training_info.json").exists()
