"""The self-contained HTML report: inline CSS, figures as base64 PNGs, no scripts, no external URLs.

The page is the Jinja template rqbench/templates/report.html (package data); this module prepares
its context and draws the figures (matplotlib is imported only then, by `rqbench.report.figures`).
Pairwise comparisons (pairs="all"), declared contrasts and the audits of the training data are sections of
their own (`_PAIRWISE`, `_CONTRASTS` and `_AUDITS` below), placed before the legend, so that a report without
them is the template alone;
with non-default options the p-value column headings name the chosen correction. A report from run
files (`Report.from_runs`) lists the run files with their sha256 instead of timings and environments.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from rqbench.report.audit_text import AUDITS_INTRO, audit_tables
from rqbench.report.contrast_text import contrast_headers, contrast_rows, contrast_sentences
from rqbench.report.findings import findings_section_html
from rqbench.report.format import (
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
    planned_figures,
    sets_text,
    summary_rows,
    timing_rows,
    training_rows,
)
from rqbench.report.headline import SUMMARY_TITLE, contrasts_intro, headline_rows, headline_sentences
from rqbench.report.legend import legend_lines, p_headers, results_key

if TYPE_CHECKING:
    from rqbench.report.model import Report

_LEGEND = '<section id="legend">'
_HEADER_END = "</header>\n\n"
_TEMPLATE_P_HEADERS = ("<th>p (rand., Holm)</th>", "<th>p (t, Holm)</th>")  # as the template writes them
_PAIRWISE = """{% for s in sections %}
<section id="pairwise{{ s.id }}">
<h2>Pairwise comparisons{% if multi %}: {{ s.label }}{% endif %}</h2>
{% for t in s.tables %}
<h3>{{ t.measure }}</h3>
<div class="scroll">
<table>
  <thead>
    <tr><th class="name">A vs B</th><th>A</th><th>B</th><th>&Delta; (A - B)</th><th>{{ pct }}% CI</th>
        <th>{{ p_rand }}</th><th>{{ p_t }}</th><th>W/T/L</th><th>n</th><th>Sig.</th></tr>
  </thead>
  <tbody>
    {% for row in t.rows %}
    <tr>
      <td class="name">{{ row.a|wbr }} <em>vs</em> {{ row.b|wbr }}</td><td>{{ row.value_a }}</td>
      <td>{{ row.value_b }}</td><td class="{{ row.cls }}">{{ row.diff }}</td><td>{{ row.ci }}</td>
      <td>{{ row.p_rand }}</td><td>{{ row.p_t }}</td><td>{{ row.wtl }}</td><td>{{ row.n }}</td>
      <td class="{{ row.cls }}"><span class="mark">{{ row.mark }}</span></td>
    </tr>
    {% endfor %}
  </tbody>
</table>
</div>
{% endfor %}
</section>

{% endfor %}
"""
_CONTRASTS = """<section id="contrasts">
<h2>Contrasts</h2>
<div class="scroll">
<table>
  <thead>
    <tr><th class="name">Contrast</th><th class="name">Evaluation set</th><th class="name">Measure</th>
        <th class="name">Expected</th><th class="name">A</th><th class="name">B</th><th>A - B</th>
        <th>{{ pct }}% CI</th>{% if seeded %}<th class="name">A - B by seed</th>{% endif %}<th>{{ p_raw }}</th>
        <th>{{ p_corrected }}</th><th class="name">Verdict</th></tr>
  </thead>
  <tbody>
    {% for row in rows %}
    <tr>
      <td class="name">{{ row.name|wbr }}</td><td class="name">{{ row.label }}</td>
      <td class="name">{{ row.measure }}</td><td class="name">{{ row.expect }}</td>
      <td class="name">{{ row.a|wbr }}</td><td class="name">{{ row.b|wbr }}</td>
      <td class="{{ row.cls }}">{{ row.diff }}</td><td>{{ row.ci }}</td>
      {% if seeded %}<td class="name">{{ row.by_seed }}</td>{% endif %}<td>{{ row.p }}</td>
      <td>{{ row.p_corrected }}</td>
      <td class="name {{ row.cls }}">{{ row.verdict }}</td>
    </tr>
    {% endfor %}
  </tbody>
</table>
</div>
<ul class="legend">
  {% for line in sentences %}<li>{{ line }}</li>
  {% endfor %}
</ul>
</section>

"""
_SUMMARY = """<section id="summary">
<h2>{{ title }}</h2>
{% if rows %}
<p class="key">{{ intro }}</p>
<div class="scroll">
<table>
  <thead>
    <tr><th class="name">Contrast</th>{% if several %}<th class="name">Evaluation set</th>{% endif %}
        <th class="name">Measure</th><th class="name">Verdict</th><th>A - B</th><th>{{ pct }}% CI</th></tr>
  </thead>
  <tbody>
    {% for row in rows %}
    <tr>
      <td class="name">{{ row.name|wbr }}</td>{% if several %}<td class="name">{{ row.label }}</td>{% endif %}
      <td class="name">{{ row.measure }}</td><td class="name verdict {{ row.cls }}">{{ row.verdict }}</td>
      <td class="{{ row.cls }}">{{ row.diff }}</td><td>{{ row.ci }}</td>
    </tr>
    {% endfor %}
  </tbody>
</table>
</div>
{% else %}
<ul class="legend">
  {% for line in sentences %}<li>{{ line }}</li>
  {% endfor %}
</ul>
{% endif %}
</section>

"""
_AUDITS = """<section id="audits">
<h2>Audits</h2>
<p class="key">{{ intro }}</p>
{% for t in tables %}
<h3>{{ t.title }}</h3>
<div class="scroll">
<table class="audit-{{ t.role }}">
  <thead>
    <tr>
      {% for h in t.headers %}
      <th{% if loop.index <= t.n_names %} class="name"{% endif %}>{{ h }}</th>
      {% endfor %}
    </tr>
  </thead>
  <tbody>
    {% for row in t.rows %}
    <tr>
      {% for c in row %}
      <td{% if loop.index <= t.n_names %} class="name"{% endif %}>{{ c|wbr if loop.first else c }}</td>
      {% endfor %}
    </tr>
    {% endfor %}
  </tbody>
</table>
</div>
<p class="key">{{ t.key }}</p>
{% if t.footnote %}
<p class="key">{{ t.footnote }}</p>
{% endif %}
{% endfor %}
</section>

"""


def render_figures(report: Report) -> dict[str, bytes]:
    """All figures as PNG bytes, by name: per evaluation set the recall curves (if any) and one per-query
    plot per compared measure; with several sets each name ends with the set's slug."""
    from rqbench.report import figures

    out: dict[str, bytes] = {}
    for f in planned_figures(report):
        out[f.name] = (figures.recall_curves(f.section) if f.measure is None
                       else figures.per_query_difference(f.section, f.measure))
    return out


def render_html(report: Report, pngs: dict[str, bytes] | None = None) -> str:
    """One self-contained page; `pngs` are the figures by name (drawn here when None)."""
    from importlib.resources import files

    import jinja2
    import markupsafe

    if pngs is None:
        pngs = render_figures(report)
    source = (files("rqbench") / "templates" / "report.html").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # a long grid variant name may break after ",", "/" or "[" rather than mid-word
    env.filters["wbr"] = lambda text: markupsafe.Markup(
        re.sub(r"([,/\[])", r"\1<wbr>", str(markupsafe.escape(text))))
    template = env.from_string(source)

    def figure(name: str, title: str) -> dict[str, str]:
        return {"name": name, "title": title,
                "src": "data:image/png;base64," + base64.b64encode(pngs[name]).decode("ascii")}

    per_set_figures, other_figures = place_figures(report, list(pngs))
    sections = [_section_context(report, s, [figure(n, t) for n, t in figs])
                for s, figs in zip(report.sections, per_set_figures, strict=True)]
    page = template.render(
        r=report,
        title=f"rqbench comparison: {report.label}" if report.from_runs else f"rqbench report: {report.suite}",
        runs=report.meta["run_files"] if report.from_runs else [],
        multi=bool(report.sets),
        pct=pct(report),
        dataset_text=dataset_text(report.meta["dataset"]),
        n_queries="" if report.sets else n_queries_text(report),
        sets_text=sets_text(report),
        created=created_text(report),
        sections=sections,
        legend=legend_lines(report),
        definitions={m: definition_text(m, report.definitions[m]) for m in report.measures},
        measure_notes=measure_notes(report),
        figures=[figure(n, t) for n, t in other_figures],
        timing_rows=timing_rows(report),
        training_rows=training_rows(report),
        training_note=TRAINING_NOTE,
        env_columns=ENV_COLUMNS,
        env_rows=env_rows(report),
        datasets=report.meta["datasets"],
        stats=report.meta["stats"],
    )
    if report.correction != "holm":
        for default, heading in zip(_TEMPLATE_P_HEADERS, p_headers(report), strict=True):
            page = page.replace(default, f"<th>{heading}</th>")
    pairwise = [{"id": f"-{s.slug}" if report.sets else "", "label": s.label,
                 "tables": [{"measure": m, "rows": pairwise_rows(s, m)} for m in pairwise_measures(s)]}
                for s in report.sections if pairwise_measures(s)]
    if pairwise:
        extra = env.from_string(_PAIRWISE).render(sections=pairwise, multi=bool(report.sets), pct=pct(report),
                                                  p_rand=p_headers(report)[0], p_t=p_headers(report)[1])
        page = page.replace(_LEGEND, extra + _LEGEND, 1)
    if report.contrasts:
        p_raw, p_corrected = contrast_headers(report)
        rows = contrast_rows(report)
        extra = env.from_string(_CONTRASTS).render(rows=rows, sentences=contrast_sentences(report),
                                                   pct=pct(report), p_raw=p_raw, p_corrected=p_corrected,
                                                   seeded=any(r["by_seed"] for r in rows))
        page = page.replace(_LEGEND, extra + _LEGEND, 1)
    # the answer first, before the first evaluation set's tables: the summary, then a person's findings
    findings = findings_section_html(report.findings) if report.findings else ""
    rows, sentences = headline_rows(report), headline_sentences(report)
    summary = env.from_string(_SUMMARY).render(
        title=SUMMARY_TITLE, rows=rows, sentences=sentences, intro=contrasts_intro(report), pct=pct(report),
        several=len(report.sections) > 1) if rows or sentences else ""
    if summary or findings:
        page = page.replace(_HEADER_END, _HEADER_END + summary + findings, 1)
    if tables := audit_tables(report):
        extra = env.from_string(_AUDITS).render(intro=AUDITS_INTRO, tables=tables)
        page = page.replace(_LEGEND, extra + _LEGEND, 1)
    return page


def _section_context(report: Report, section: Report, figures: list[dict[str, str]]) -> dict[str, Any]:
    """What the template shows for one evaluation set: headings one level down when there are several."""
    return {
        "label": section.label,
        "slug": section.slug,
        "id": f"-{section.slug}" if report.sets else "",
        "h": 3 if report.sets else 2,
        "n_queries": n_queries_text(section),
        "summary_rows": summary_rows(section),
        "comparison_tables": [{"measure": m, "rows": comparison_rows(section, m)}
                              for m in compared_measures(section)],
        "results_key": results_key(section, "in small print under each value"),
        "figures": figures,
    }
