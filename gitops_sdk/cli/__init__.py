"""The `gitops` command. The top layer."""

from gitops_sdk.cli.app import main, parser, run

__all__ = ["main", "parser", "run"]
