"""The cost fields a leaderboard can show beside quality, as records give them (`rqbench.board.build._cost`)."""

# name -> (label, unit, higher is better)
COST_FIELDS: dict[str, tuple[str, str, bool]] = {
    "train_s": ("training", "s", False),
    "index_s": ("indexing", "s", False),
    "index_mb": ("index size", "MB", False),
    "search_qps": ("search", "queries/s", True),
}

COST_NOTE = ("Cost: wall time as first built (indexing and search on the system's first evaluation set), on the "
             "hardware shown. Queries/s: all the set's queries over the search time, leaving out the first search "
             "(which loads the model or starts the JVM) where the record timed it apart; a re-ranker's adds its "
             "first stage's search and its scoring.")
