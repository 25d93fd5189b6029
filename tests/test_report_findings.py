"""`rqbench report --findings FILE`: a person's reading of the results, shown in every report format under its
own heading, marked as written by hand, escaped in HTML; a bad file is a one-line error before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rqbench.report.findings import MARK, findings_html, findings_markdown

NOTE = """The cross-batch claim is **not shown** here: the set is `easy`.

- Denoising: *no* difference, because the teacher is weak.
  It kept most candidates.
- <script>alert(1)</script> stays text.
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rqbench.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def records(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed RocketQA SciFact report's records of one contrast (denoising: md1 against md1-undenoised,
    three seeds each, with their per-query files and denoise audits), so a report has a summary, contrasts and
    audits beside the findings; the whole file's 28 records make 4 times the figures and statistics."""
    source = repo_root / "reports" / "rocketqa-scifact" / "records"
    folder = tmp_path_factory.mktemp("records")
    (folder / "perquery").mkdir()
    kept = []
    for line in (source / "records.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("arm") in ("md1", "md1-undenoised"):
            kept.append(line)
            (folder / record["per_query_file"]).write_bytes((source / record["per_query_file"]).read_bytes())
    assert len(kept) == 6
    (folder / "records.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return folder / "records.jsonl"


def test_html_keeps_paragraphs_lists_and_inline_marks_and_escapes_the_rest() -> None:
    page = findings_html(NOTE)
    assert "<p>The cross-batch claim is <strong>not shown</strong> here: the set is <code>easy</code>.</p>" in page
    assert "<li>Denoising: <em>no</em> difference, because the teacher is weak. It kept most candidates.</li>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; stays text." in page
    assert findings_markdown(NOTE)[1:5] == ["## Findings", "", f"*{MARK}*", ""]
    # code spans keep their text; a list may follow a paragraph line; headings sit below the section's h2
    assert findings_html("`**x** <b>`") == "<p><code>**x** &lt;b&gt;</code></p>"
    assert findings_html("Intro:\n- a\n- b") == "<p>Intro:</p>\n<ul><li>a</li><li>b</li></ul>"
    assert findings_html("# Title\ntext") == "<h3>Title</h3>\n<p>text</p>"
    assert findings_markdown("# Title\ntext")[-2:] == ["### Title", "text"]


def test_a_fenced_block_is_shown_as_written() -> None:
    note = "Ran:\n\n```\n# not a heading\nrqbench run <suite>\n\n- not a list\n```\n\n# After"
    assert findings_html(note) == ("<p>Ran:</p>\n<pre><code># not a heading\nrqbench run &lt;suite&gt;\n\n"
                                   "- not a list</code></pre>\n<h3>After</h3>")
    assert findings_markdown(note)[5:] == note.replace("# After", "### After").split("\n")
    assert findings_html("a ``` b") == "<p>a ``` b</p>"  # no empty code span


def test_report_shows_the_findings_in_every_format(records: Path, tmp_path: Path) -> None:
    note = tmp_path / "findings.md"
    note.write_text(NOTE, encoding="utf-8")
    out = cli("report", str(records), "--findings", str(note), "--json", "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["findings"] == NOTE
    md = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    # after the claims it reads, before the audits
    # a person's reading opens the report: right after the summary, before the tables and contrasts
    assert md.index("## Summary") < md.index("## Findings") < md.index("## Contrasts") < md.index("## Audits")
    assert NOTE.strip() in md and MARK in md
    page = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert '<section id="findings">' in page and "<strong>not shown</strong>" in page and "<script>alert" not in page
    without = cli("report", str(records), "--json")
    assert "findings" not in json.loads(without.stdout)

    # `rqbench report reports/<suite>`: a committed report folder (records/ and findings.md inside) re-renders in
    # place, the same report as the long form above (records, --findings, --out)
    folder = tmp_path / "reports" / "demo"
    (folder / "records").mkdir(parents=True)
    for item in records.parent.iterdir():
        (folder / "records" / item.name).symlink_to(item, target_is_directory=item.is_dir())
    (folder / "findings.md").write_text(NOTE, encoding="utf-8")
    short = cli("report", str(folder))
    assert short.returncode == 0, short.stderr
    assert (folder / "report.md").read_text(encoding="utf-8") == md
    assert sorted(p.name for p in folder.iterdir()) == ["figures", "findings.md", "records", "report.html",
                                                        "report.md"]


def test_a_missing_or_empty_findings_file_is_one_line(records: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("\n  \n", encoding="utf-8")
    for path, problem in ((tmp_path / "nope.md", "no such findings file"), (empty, "findings file is empty")):
        out = cli("report", str(records), "--findings", str(path), "--out", str(tmp_path / "rep"))
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and str(path) in lines[0] and problem in lines[0], out.stderr
    assert not (tmp_path / "rep").exists()
    note = tmp_path / "note.md"
    note.write_text("a note\n", encoding="utf-8")
    csv = cli("report", str(records), "--findings", str(note), "--format", "csv")
    assert csv.returncode == 2 and "--format csv has no place for a note" in csv.stderr

