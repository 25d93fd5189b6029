"""What a Report can turn itself into, for notebooks: the renderers are imported when called, so the
model stays free of jinja, matplotlib and pandas (and no renderer imports the model at run time)."""

from __future__ import annotations

from typing import Any


class ReportOutputs:
    """Mixed into `rqbench.report.model.Report`."""

    def to_markdown(self) -> str:
        from rqbench.report.markdown import render_markdown

        return render_markdown(self)

    def to_html(self) -> str:
        """One self-contained page, figures embedded."""
        from rqbench.report.html import render_html

        return render_html(self)

    def to_csv(self) -> str:
        """One row per (set, variant, measure) with its comparison (`rqbench.report.export`)."""
        from rqbench.report.export import report_to_csv

        return report_to_csv(self)

    def to_dict(self) -> dict[str, Any]:
        from rqbench.report.export import report_to_json

        return report_to_json(self)

    def to_frame(self) -> Any:
        """`to_csv` as a pandas DataFrame."""
        import io

        import pandas as pd

        return pd.read_csv(io.StringIO(self.to_csv()))

    def _repr_markdown_(self) -> str:  # Jupyter shows the Markdown
        return self.to_markdown()

