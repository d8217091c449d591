"""Benchmarks and baselines for the intent engine (scripts and helpers, not shipped with the app)."""
