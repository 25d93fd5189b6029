"""`python -m rqbench.cli`: the `rqbench` command."""

from rqbench.cli import main

main()
