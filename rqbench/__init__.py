"""rqbench: an evaluation and benchmarking harness for dense passage retrieval.

Importing this package loads no torch, JVM or faiss; heavy backends are imported on first use.
"""

__version__ = "0.1.0"
