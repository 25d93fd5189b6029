"""Leaderboards across suites and run files: systems x (evaluation set, measure), ranks, statistical tie
groups, means over evaluation sets, cost beside quality; rendered to the terminal, Markdown, CSV, pandas
and one HTML page."""

from rqbench.board.build import Options, build_leaderboard
from rqbench.board.model import Cell, Column, Leaderboard, System
from rqbench.board.sources import load_records

__all__ = ["Cell", "Column", "Leaderboard", "Options", "System", "build_leaderboard", "load_records"]
