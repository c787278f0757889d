"""Benchmarks: run on demand with `make bench`, never as part of `make test`.

Each `bench_*.py` module has a `main()` that prints its figures and the ratio
against a baseline measured in the same run.
"""
