"""Datasets: finding the data folder, loading BEIR / MS MARCO TSV / TREC SGML folders or ir_datasets ids.

Modules: resolve (spec -> plan, data root), layout (which files mean what), readers (one file each),
assemble (splits and counted warnings), irds (ir_datasets), loaders (load_dataset), qrels (qrels_for:
a split's qrels alone), inspect (every problem of a folder).
"""

from rqbench.data.dataset import Dataset
from rqbench.data.inspect import format_inspection, inspect_dataset
from rqbench.data.loaders import load_dataset
from rqbench.data.qrels import qrels_for
from rqbench.data.resolve import resolve_data_root

__all__ = ["Dataset", "format_inspection", "inspect_dataset", "load_dataset", "qrels_for", "resolve_data_root"]
