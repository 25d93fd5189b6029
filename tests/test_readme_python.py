"""The README's Python example runs as printed (with the data root of this machine) and its numbers are
the published DL19 figures of the shipped runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest


def test_the_readme_python_example_runs(repo_root: Path, data_root: Path, monkeypatch) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- python-example -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README lost its python-example block"
    code = block.group(1).replace('"../shared/data/msmarco-dl19"', repr(str(data_root / "msmarco-dl19")))
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)
    printed = out.getvalue()
    assert "'nDCG@10': 0.5058" in printed  # the published BM25 figure
    assert "34 9 [" in printed and len(namespace["pair"].queries) == 3
    pair = namespace["pair"]
    assert pair.to_frame()["diff"].to_dict() == pytest.approx(pair.diffs) and pair.to_csv().count("\n") == 44
    scores = namespace["rqbench"].evaluate(namespace["runs"]["bm25"], namespace["qrels"], ["nDCG@10"])
    assert scores.to_frame().loc["nDCG@10", "value"] == scores["nDCG@10"]
    assert "| nDCG@10 | 0.5058 |" in scores.to_markdown()
    board = namespace["board"]
    assert [s.name for s in board.systems] == ["splade++", "tas-b", "bm25"]
    frame = namespace["frame"]
    assert frame.loc["bm25", "dl19 nDCG@10"] == board.cells[("bm25", board.columns[0])].value
    assert frame.loc["bm25", "dl19 nDCG@10 groups"] == "b" and frame.loc["tas-b", "dl19 nDCG@10 groups"] == "a"
    assert "bm25" in namespace["report"].to_markdown() and namespace["report"].to_frame().shape[0] == 3
