"""Benchmarks for loom against the baselines a user would otherwise use.

Run `python -m bench` (add `--quick` for small sizes, `--only NAME` for one
target). Every figure is measured side by side with its baseline in one run
and printed with the ratio and the target. Not part of the test suite."""
