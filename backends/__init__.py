"""rqbench's built-in backends, installed as the `rqbench_backends` package; imported lazily by the registry."""
