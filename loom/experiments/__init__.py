"""Experiments: where a backend, a session and pure analysis meet.

One module per experiment (generate, replay, sweep, report, multiverse,
distribution, score, vs, compare). The app, the CLI and the Python API call
these and only show what they return."""
