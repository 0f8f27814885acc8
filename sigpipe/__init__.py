"""sigpipe: find handwritten signatures in scanned PDFs and verify who wrote them.

The library layer: pure, typed functions. No Prefect, no DuckDB, no pyarrow here.
"""

__version__ = "0.8.3"
__all__ = ["__version__"]
