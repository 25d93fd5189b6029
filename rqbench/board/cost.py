"""The cost fields a leaderboard can show beside quality, as records give them (`rqbench.board.build._cost`)."""

# name -> (label, unit, higher is better)
COST_FIELDS: dict[str, tuple[str, str, bool]] = {
    "train_s": ("training", "s", False),
    "index_s": ("indexing", "s", False),
    "index_mb": ("index size", "MB", False),
    "search_qps": ("search", "queries/s", True),
}
