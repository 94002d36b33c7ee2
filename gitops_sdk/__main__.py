"""`python -m gitops_sdk` runs the `gitops` command."""

from .cli import run

run()
