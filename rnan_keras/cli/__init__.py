"""Command-line interface (``rnan``). Each subcommand lives in its own module."""
