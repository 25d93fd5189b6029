"""Reports from result records: a terminal table, Markdown and one self-contained HTML page with figures.

Owns turning records (never a model, index or run file) into what a reader needs to judge a suite:
each variant's metrics, its paired difference from the baseline with a bootstrap CI, Holm-adjusted
randomization and t-test p-values, win/tie/loss counts and a significance mark; what every measure
means; recall curves; per-stage timings; and the environment needed to reproduce the numbers. Records
of several evaluation sets (dataset, split) give one section per set, compared within the set. Options
choose the deciding test, the correction (Holm, Bonferroni, none) and whether every pair of variants is
compared (`build_report`); `export` turns a Report into JSON, CSV or LaTeX. Records made from run files
(`rqbench.run_files`, marked "source": "runs") give a comparison (`Report.from_runs`) titled by its qrels,
listing the run files with their sha256 instead of the timings and environments such records lack.
Records of a multi-seed arm (seeded records carry "arm" and "seed") count as the arm, averaged over its
seeds (`seeds`: mean ± sd shown, significance on seed-averaged per-query values); a suite's declared
contrasts ("suite_contrasts") are tested together under one correction (`contrasts`) and get a section of
their own with a verdict per claim. Records' audits of the variants' training data (RocketQA's denoised
negatives and pseudo-labels, "audits") get an Audits section, once per variant and seed (`audits`).

`build_report` (model, with significance and meta) does all the computing once; the renderers
(terminal, markdown, html) only format, with the helpers of `format` and the wording of `legend`.
Output depends only on the records (no "generated at" timestamp), so a committed report regenerates
byte for byte. matplotlib is imported only when figures are drawn (`rqbench.report.figures`, which this
package does not import), so importing it stays light.

Modules import one way only: format, significance, meta, seeds, contrasts, audits <- model; seeds <- audits;
format, significance <- legend; format, legend <- contrast_text; format, audits <- audit_text; format,
legend, contrast_text, audit_text <- terminal, markdown, html (<- figures, lazily); audits <- export <- write.
"""

from rqbench.report.contrasts import ContrastResult
from rqbench.report.export import report_to_csv, report_to_json, report_to_latex
from rqbench.report.format import (
    DASH,
    DOWN,
    ENV_COLUMNS,
    MEASURE_NOTES,
    UP,
    definition_text,
    figure_name,
    fmt_ci,
    fmt_diff,
    fmt_p,
    fmt_seconds,
    fmt_value,
)
from rqbench.report.html import render_figures, render_html
from rqbench.report.legend import legend_lines, results_key
from rqbench.report.markdown import render_markdown
from rqbench.report.model import Report, build_report, eval_set_of, latest_by_eval_set
from rqbench.report.terminal import render_terminal
from rqbench.report.write import write_report, write_report_folder

__all__ = [
    "DASH",
    "DOWN",
    "ENV_COLUMNS",
    "MEASURE_NOTES",
    "UP",
    "ContrastResult",
    "Report",
    "build_report",
    "definition_text",
    "eval_set_of",
    "figure_name",
    "fmt_ci",
    "fmt_diff",
    "fmt_p",
    "fmt_seconds",
    "fmt_value",
    "latest_by_eval_set",
    "legend_lines",
    "render_figures",
    "render_html",
    "render_markdown",
    "render_terminal",
    "report_to_csv",
    "report_to_json",
    "report_to_latex",
    "results_key",
    "write_report",
    "write_report_folder",
]
