"""modelopt-mlir: memory planning for deep-learning graphs in MLIR."""

__version__ = "0.1.0"
