"""`rqbench compare`: one sign convention (candidate minus baseline) in the table, the two-system summary
and the sparkline, stated once; the summary comes first; the sparkline keeps its sign when piped; and
everything reads at 80 columns with every run name whole. Tiny hand-written runs, through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.pair.render import signed_sparkline, sparkline

QIDS = [f"q{i:02d}" for i in range(20)]


def _run(path: Path, rank_of_rel: dict[str, int]) -> Path:
    """Five documents per query, the relevant one ('rel') at the given rank."""
    lines = []
    for q, rank in rank_of_rel.items():
        docs = [f"d{j}" for j in range(4)]
        docs.insert(rank - 1, "rel")
        lines += [f"{q} Q0 {d} {r + 1} {10 - r} x\n" for r, d in enumerate(docs)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The baseline finds 'rel' at rank 2-5; the candidate at rank 1 on 16 queries and rank 5 on 4 (one of
    them a tie with the baseline)."""
    folder = tmp_path_factory.mktemp("pair")
    qrels = folder / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 rel 1\n" for q in QIDS), encoding="utf-8")
    base = _run(folder / "base.trec", {q: 2 + i % 4 for i, q in enumerate(QIDS)})
    cand = _run(folder / "cand.trec", {q: 5 if i % 5 == 0 else 1 for i, q in enumerate(QIDS)})
    return {"qrels": qrels, "base": base, "cand": cand, "folder": folder}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI piped (not a terminal) at 80 columns."""
    proc = subprocess.run([sys.executable, "-m", "rqbench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def _table_diff(out: str, name: str) -> str:
    """The difference the results table shows for `name` (the line below its value)."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["variant"])
    row = next(i for i, line in enumerate(lines) if i > header and line.split()[:1] == [name]
               and re.search(r"\d\.\d{4}", line))
    return lines[row + 1].split()[0]


def test_table_summary_and_sparkline_share_one_sign(pair: dict[str, Path]) -> None:
    out = cli("compare", str(pair["qrels"]), str(pair["base"]), str(pair["cand"]), "-m", "RR@10").stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    diff = _table_diff(out, "cand.trec")
    assert diff.startswith("+")  # the candidate is better: candidate - baseline > 0
    head = " ".join(" ".join(lines[:6]).split())  # the summary leads, wrapped at 80 columns
    assert head.startswith("cand.trec vs base.trec (baseline) on RR@10")
    assert "cand.trec is significantly better" in head and f"difference {diff} [95% CI +" in head
    assert "randomization p" in head and "t-test p" in head and "cand.trec wins 16, ties 1, loses 3" in head
    assert " ".join(out.split()).count("every difference here is cand.trec − base.trec") == 1  # stated once
    assert lines.index(next(line for line in lines if line.split()[:1] == ["variant"])) > 5  # the table after
    spark = lines[lines.index("sorted per-query differences (cand.trec − base.trec):") + 1]
    assert spark.startswith("+") and " -" in spark  # piped, the sign is in the text, not only in colour


def test_baseline_option_turns_every_sign_around(pair: dict[str, Path]) -> None:
    out = cli("compare", str(pair["qrels"]), str(pair["base"]), str(pair["cand"]), "-m", "RR@10",
              "--baseline", "cand.trec", "--out", str(pair["folder"] / "cmp")).stdout
    diff = _table_diff(out, "base.trec")
    assert diff.startswith("-")
    head = " ".join(" ".join(out.splitlines()[:6]).split())
    assert head.startswith("base.trec vs cand.trec (baseline)") and f"difference {diff} " in head
    queries = (pair["folder"] / "cmp" / "queries.md").read_text(encoding="utf-8")
    assert f"difference {diff} " in queries and "(base.trec − cand.trec): `+" in queries


def test_detail_zero_still_leads_with_the_summary(pair: dict[str, Path]) -> None:
    out = cli("compare", str(pair["qrels"]), str(pair["base"]), str(pair["cand"]), "-m", "RR@10", "--detail", "0")
    assert out.stdout.startswith("cand.trec vs base.trec (baseline)") and "largest differences" not in out.stdout


def test_sparkline_in_plain_text_keeps_its_sign() -> None:
    assert signed_sparkline([0.5, 0.0, -0.25]) == "+▅ · -▃"
    assert signed_sparkline([0.5, 0.25]) == "+▅▃" and signed_sparkline([-1.0]) == "-█"
    assert len(signed_sparkline([0.1 * (i % 7) - 0.3 for i in range(1000)], 40)) <= 40
    assert sparkline([1.0, 0.0, -1.0]) == "█ █"  # the unsigned bars, as before


def test_compare_reads_at_80_columns_with_long_names(pair: dict[str, Path]) -> None:
    names = ["md0[seed=13].trec", "md0[seed=14].trec", "splade-p-p-ensemble-distil.dl19.trec",
             "bm25-rm3.with-a-long-suffix.trec"]
    paths = []
    for k, name in enumerate(names):
        paths.append(_run(pair["folder"] / name, {q: 1 + (i + k) % 5 for i, q in enumerate(QIDS)}))
    out = cli("compare", str(pair["qrels"]), *map(str, paths), "-m", "RR@10 nDCG@10 R@5 AP").stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for name in names:  # every name whole on a line of its own table
        assert any(line.split()[:1] == [name] or line.split()[:2] == [name, "*"] for line in lines), name
    headers = [w for line in lines if line.split()[:1] == ["variant"] for w in line.split()[1:]]
    assert headers == ["RR@10", "nDCG@10", "R@5", "AP"]  # every measure's heading whole, once


def test_piped_output_reads_at_80_columns_from_a_wide_terminal(pair: dict[str, Path]) -> None:
    """stdout piped while stdin and stderr are a 200-column terminal and $COLUMNS is unset: compare lays out
    for 80 columns, as leaderboard and plan do (rich alone would take the terminal's 200)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    long = _run(pair["folder"] / ("a-candidate-with-a-rather-long-name-" * 3 + ".trec"),
                {q: 1 for q in QIDS})
    try:
        proc = subprocess.run([sys.executable, "-m", "rqbench.cli", "compare", str(pair["qrels"]),
                               str(pair["base"]), str(long)], stdin=follower, stdout=subprocess.PIPE,
                              stderr=follower, text=True, env=env, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), max(lines, key=len)


def test_the_summary_verdict_follows_the_tables_test(pair: dict[str, Path]) -> None:
    """--test t marks the table by the t-test: the summary's verdict uses that test too, so the two never
    disagree (a randomization p of 0.5 with a t-test p of 0.001 is significant under --test t only)."""
    from dataclasses import replace

    from rqbench.pair.detail import pair_detail
    from rqbench.pair.render import verdict
    from rqbench.types import read_qrels, read_trec_run

    out = cli("compare", str(pair["qrels"]), str(pair["base"]), str(pair["cand"]), "--test", "t").stdout
    assert "cand.trec is significantly better (paired t-test, alpha=0.05)" in " ".join(out.split())
    runs = {"base": read_trec_run(pair["base"]), "cand": read_trec_run(pair["cand"])}
    d = pair_detail(runs, read_qrels(pair["qrels"]), "RR@10", n=0, baseline="base", n_resamples=200)
    d = replace(d, comparison=replace(d.comparison, rand_p=0.5, t_p=0.001))
    assert verdict(replace(d, test="t")).startswith("cand is significantly better (paired t-test")
    assert verdict(d).startswith("no significant difference")


def test_the_api_drilldown_signs_as_compare_does(pair: dict[str, Path]) -> None:
    """rqbench.drilldown took first - second while compare takes candidate - baseline (the first run):
    the same two runs gave opposite signs in the API and on the command line."""
    import rqbench

    runs = {"base": str(pair["base"]), "cand": str(pair["cand"])}
    detail = rqbench.drilldown(str(pair["qrels"]), runs, "RR@10", n=2)
    report = rqbench.compare(str(pair["qrels"]), runs, ["RR@10"])
    assert detail.a == "cand" and detail.b == "base" and detail.comparison.diff > 0
    assert detail.comparison.diff == pytest.approx(report.comparisons["RR@10"]["cand"].diff)
    assert rqbench.drilldown(str(pair["qrels"]), runs, "RR@10", n=2, baseline="cand").comparison.diff < 0
