"""The artifact store's upkeep beside `rqbench.artifacts`: what running builds hold (`live`) and `verify` / `gc`
(`maintenance`)."""
