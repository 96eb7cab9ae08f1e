"""The `jobspec` command."""
