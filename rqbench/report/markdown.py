"""The GitHub-flavoured Markdown report (reports/<suite>/report.md).

A report from run files (`Report.from_runs`, `rqbench compare`) is titled by its qrels, lists the run files
with their sha256 instead of stage timings and environments (which such records lack), and explains only
the measures it has."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rqbench.report.audit_text import AUDITS_INTRO, audit_tables
from rqbench.report.contrast_text import contrast_headers, contrast_rows, contrast_sentences
from rqbench.report.findings import findings_markdown
from rqbench.report.format import (
    DASH,
    ENV_COLUMNS,
    TRAINING_NOTE,
    compared_measures,
    comparison_rows,
    created_text,
    dataset_text,
    definition_text,
    env_rows,
    measure_notes,
    n_queries_text,
    pairwise_measures,
    pairwise_rows,
    pct,
    place_figures,
    sets_text,
    summary_rows,
    timing_rows,
    training_rows,
)
from rqbench.report.headline import SUMMARY_TITLE, contrasts_intro, headline_rows, headline_sentences
from rqbench.report.legend import legend_lines, p_headers, results_key
from rqbench.report.mdtext import md_cell, md_code, md_text

if TYPE_CHECKING:
    from rqbench.report.model import Report

def md_table(header: list[str], rows: Iterable[list[Any]], align: list[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report, figure_paths: dict[str, str] | None = None) -> str:
    """GitHub-flavoured Markdown; `figure_paths` maps figure name -> path relative to the file.

    One evaluation set: results, comparisons, legend, figures, timings, reproducibility. Several: one
    section per set (its results, comparisons and figures), then the legend, timings and reproducibility
    once. A person's findings, if any, come right after the summary and notes; declared contrasts, if any,
    after the results, then the audits of the training data, if any, before the legend."""
    figure_paths = figure_paths or {}
    per_set_figures, other_figures = place_figures(report, list(figure_paths))
    title = f"rqbench comparison: {report.label}" if report.from_runs else f"rqbench report: {report.suite}"
    out = [f"# {md_text(title)}", ""]
    out += _md_header(report)
    out += _md_summary(report)
    if report.notes:
        out += ["", "**Notes**", ""] + [f"- {md_text(n)}" for n in report.notes]
    if report.findings:  # a person's reading (which preconditions held, so which claims were testable) opens it
        out += findings_markdown(report.findings)

    if report.sets:
        for section, figures in zip(report.sections, per_set_figures, strict=True):
            out += ["", f"## {md_text(section.label)}", "", f"{md_text(n_queries_text(section))} queries."]
            out += _md_set(section, "###", [(title, figure_paths[name]) for name, title in figures])
    else:
        out += _md_set(report, "##", [])
    out += _md_contrasts(report)
    out += _md_audits(report)

    out += ["", "## Legend", ""] + [f"- {md_text(line)}" for line in legend_lines(report)]
    out += ["", "### Measures", ""]
    out += [f"- **{md_text(m)}**: {md_text(definition_text(m, report.definitions[m]))}"
            for m in report.measures]
    notes = measure_notes(report)
    out += [""] + [f"- {md_text(n)}" for n in notes] if notes else []

    if other_figures:
        out += ["", "## Figures", ""]
        out += _md_figures([(title, figure_paths[name]) for name, title in other_figures])

    if report.from_runs:
        return "\n".join([*out, "", "## Run files", "", *_md_run_files(report)]) + "\n"

    out += _md_training(report)
    out += ["", "## Stage timings", ""]
    rows = timing_rows(report)
    if rows:
        out += md_table(
            ["Variant", "Stage", "Cached", "Seconds", "Built seconds", "Artifact"],
            [[md_text(r["variant"]), f"**{r['kind']}**" if r.get("total") else md_text(r["kind"]), r["cached"],
              r["seconds"], r["built_seconds"], md_code(r["hash"]) if r["hash"] else ""]
             for r in rows],
            ["l", "l", "l", "r", "r", "l"],
        )
        out += ["", "Seconds: wall time in the run that wrote the record (near 0 when the artifact was "
                "cached); built seconds: wall time when the artifact was first built."]
    else:
        out.append("No stage timings recorded.")

    out += ["", "## Reproducibility", ""]
    out += _md_reproducibility(report)
    return "\n".join(out) + "\n"


def _md_training(report: Report) -> list[str]:
    """The training cost table (wall time and peak memory per training, e.g. per list length K)."""
    rows = training_rows(report)
    if not rows:
        return []
    out = ["", "## Training cost", ""]
    gpu = any(r["gpu"] != DASH for r in rows)
    out += md_table(["Variant", "Seed", "Task", "Candidates", "Per step", "Steps", "Built seconds", "s/step",
                     "Peak RSS MiB", "Growth MiB", *(["GPU peak MiB"] if gpu else [])],
                    [[md_text(r["variant"]), r["seed"], md_text(r["task"]), r["candidates"], r["batch"], r["steps"],
                      r["built_seconds"], r["per_step"], r["peak"], r["growth"], *([r["gpu"]] if gpu else [])]
                     for r in rows],
                    ["l", "l", "l", "r", "r", "r", "r", "r", "r", "r", *(["r"] if gpu else [])])
    return [*out, "", md_text(TRAINING_NOTE)]


def _md_set(report: Report, h: str, figures: list[tuple[str, str]]) -> list[str]:
    """One evaluation set's results table, comparison tables and (title, path) figures, under headings
    of level `h`; the values and marks only in the results table, one column per measure, so that six
    measures still fit GitHub's page width without wrapping."""
    out = ["", f"{h} Results", ""]
    header = ["Variant"] + [md_text(m) for m in report.measures]
    body = []
    for row in summary_rows(report):
        line = [md_text(row["variant"]) + (" (baseline)" if row["is_baseline"] else "")]
        # the mark before the value, so that the digits of a right-aligned column stay aligned
        line += [f"{cell['mark']}\u00a0{cell['value']}" if cell["mark"] else cell["value"] for cell in row["cells"]]
        body.append(line)
    out += md_table(header, body)
    out += ["", md_text(results_key(report, "in each measure's comparison table below"))]

    if compared_measures(report):
        out += ["", f"{h} Comparisons with the baseline", ""]
        for m in compared_measures(report):
            out += [f"{h}# {md_text(m)}", ""]
            rows = [[md_text(r["variant"]) + (" (baseline)" if r["is_baseline"] else ""), r["value"], r["diff"],
                     r["ci"], r["p_rand"], r["p_t"], r["wtl"], r["mark"]]
                    for r in comparison_rows(report, m)]
            out += md_table(["Variant", md_text(m), "Δ", f"{pct(report)}% CI", *p_headers(report), "W/T/L", "Sig."],
                            rows)
            out.append("")
        if out[-1] == "":
            out.pop()
    out += _md_pairwise(report, h)

    if figures:
        out += ["", f"{h} Figures", "", *_md_figures(figures)]
    return out


def _md_pairwise(report: Report, h: str) -> list[str]:
    """Per measure a table of every compared pair of variants (pairs="all"); nothing otherwise."""
    out: list[str] = []
    for m in pairwise_measures(report):
        out += ([] if out else ["", f"{h} Pairwise comparisons"]) + ["", f"{h}# {md_text(m)}", ""]
        rows = [[md_text(r["pair"]), r["value_a"], r["value_b"], r["diff"], r["ci"], r["p_rand"], r["p_t"], r["wtl"],
                 r["mark"]] for r in pairwise_rows(report, m)]
        out += md_table(["A vs B", "A", "B", "Δ (A - B)", f"{pct(report)}% CI", *p_headers(report), "W/T/L", "Sig."],
                        rows)
    return out


def _md_contrasts(report: Report) -> list[str]:
    """The declared contrasts: a table of every test and a sentence per contrast; nothing without."""
    rows = contrast_rows(report)
    if not rows:
        return []
    out = ["", "## Contrasts", ""]
    seeded = any(r["by_seed"] for r in rows)  # a column of A - B per seed when an arm has seeds
    out += md_table(["Contrast", "Evaluation set", "Measure", "Expected", "A", "B", "A - B", f"{pct(report)}% CI",
                     *(["A - B by seed"] if seeded else []), *contrast_headers(report), "Verdict"],
                    [[md_text(r["name"]), md_text(r["label"]), md_text(r["measure"]), r["expect"], md_text(r["a"]),
                      md_text(r["b"]), r["diff"], r["ci"], *([md_text(r["by_seed"])] if seeded else []), r["p"],
                      r["p_corrected"], f"**{r['verdict']}**" if r["cls"] else r["verdict"]] for r in rows],
                    ["l", "l", "l", "l", "l", "l", "r", "r", *(["l"] if seeded else []), "r", "r", "l"])
    return [*out, "", *(f"- {md_text(line)}" for line in contrast_sentences(report))]


def _md_summary(report: Report) -> list[str]:
    """The answer before the tables: each declared contrast's verdict, difference and CI, or (without
    contrasts) each evaluation set's headline against the baseline."""
    rows = headline_rows(report)
    out = ["", f"## {SUMMARY_TITLE}", ""]
    if rows:
        several = len(report.sections) > 1
        out += [md_text(contrasts_intro(report)), ""]
        out += md_table(["Contrast", *(["Evaluation set"] if several else []), "Measure", "Verdict", "A - B",
                         f"{pct(report)}% CI"],
                        [[md_text(r["name"]), *([md_text(r["label"])] if several else []), md_text(r["measure"]),
                          f"**{r['verdict']}**" if r["cls"] else r["verdict"], r["diff"], r["ci"]] for r in rows],
                        ["l", *(["l"] if several else []), "l", "l", "r", "r"])
        return out
    sentences = headline_sentences(report)
    return out + [f"- {md_text(line)}" for line in sentences] if sentences else []


def _md_audits(report: Report) -> list[str]:
    """The audits of the training data: a table per role with the sentence on its columns (and its
    footnote) below it; nothing without audits."""
    tables = audit_tables(report)
    if not tables:
        return []
    out = ["", "## Audits", "", md_text(AUDITS_INTRO)]
    for t in tables:
        out += ["", f"### {md_text(t.title)}", ""]
        out += md_table([md_text(h) for h in t.headers], [[md_text(c) for c in row] for row in t.rows],
                        ["l"] * t.n_names + ["r"] * (len(t.headers) - t.n_names))
        out += ["", md_text(t.key)] + (["", md_text(t.footnote)] if t.footnote else [])
    return out


def _md_figures(figures: list[tuple[str, str]]) -> list[str]:
    out = []
    for title, path in figures:
        out += [f"![{md_text(title)}]({path})", ""]
    out.pop()
    return out


def _md_header(report: Report) -> list[str]:
    if report.sets:
        where = f"- Evaluation sets: {md_text(sets_text(report))}"
    else:
        where = f"- Dataset: {md_text(dataset_text(report.meta['dataset']))}, {md_text(n_queries_text(report))} queries"
    if report.from_runs and not report.sets:
        where = where.replace("- Dataset: ", "- Qrels: ", 1)
    lines = [
        where,
        f"- Baseline: {md_text(report.baseline or DASH)}; alpha = {report.alpha:g}",
        f"- Records created: {created_text(report)}",
    ]
    if report.from_runs:  # run files have no creation time; they are listed under Run files
        lines.pop()
    if report.meta.get("suite_file"):
        lines.insert(0, f"- Suite file: {md_code(report.meta['suite_file'])}")
    return lines


def _md_reproducibility(report: Report) -> list[str]:
    out = []
    for ds in report.meta["datasets"]:
        out.append(f"- Dataset **{md_text(dataset_text(ds))}**"
                   + (f" from {md_code(ds['source'])}" if ds.get("source") else "")
                   + f", {ds.get('n_docs') or DASH} documents, {ds.get('n_queries') or DASH} queries"
                   + (f" (variants: {md_text(', '.join(ds['variants']))})" if len(report.meta["datasets"]) > 1
                      else ""))
        for part, fp in sorted(ds["fingerprints"].items()):
            out.append(f"  - {md_text(part)} fingerprint: {md_code(fp)}")
    st = report.meta["stats"]
    out.append(f"- Statistics: {st['n_resamples']} resamples, seed {st['seed']}, alpha {st['alpha']:g}")
    out.append("")
    out += md_table([label for _, label in ENV_COLUMNS],
                    [[md_text(r[k]) for k, _ in ENV_COLUMNS] for r in env_rows(report)],
                    ["l"] * len(ENV_COLUMNS))
    return out


def _md_run_files(report: Report) -> list[str]:
    """The run files with their sha256, the qrels' fingerprints and the statistics settings."""
    out = md_table(["Run", "File", "sha256"],
                   [[md_text(f["variant"]), md_code(f["path"]) if f["path"] else DASH,
                     md_code(f["sha256"]) if f["sha256"] else DASH] for f in report.meta["run_files"]],
                   ["l", "l", "l"])
    out.append("")
    for ds in report.meta["datasets"]:
        out.append(f"- Qrels **{md_text(dataset_text(ds))}**"
                   + (f" from {md_code(ds['source'])}" if ds.get("source") else "")
                   + (f", {ds['n_queries']} judged queries" if ds.get("n_queries") else ""))
        for part, fp in sorted(ds["fingerprints"].items()):
            out.append(f"  - {md_text(part)} fingerprint: {md_code(fp)}")
    st = report.meta["stats"]
    out.append(f"- Statistics: {st['n_resamples']} resamples, seed {st['seed']}, alpha {st['alpha']:g}")
    return out
