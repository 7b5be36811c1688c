"""Framework-free search over a store's FAQ and product text.

Nothing here imports Django: strings, numpy arrays and small frozen dataclasses go in and out,
so the same code is unit-tested, benchmarked and served.
"""
