"""Measurement scripts of the course (not part of the product): see ``benchmarks/README.md``.

Run them from the repository root as modules, e.g. ``python -m benchmarks.run_reference``.
"""
