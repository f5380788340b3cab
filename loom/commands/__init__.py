"""Subcommands of `loom`, one module each (see loom.cli)."""
