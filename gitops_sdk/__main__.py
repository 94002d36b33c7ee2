"""`python -m gitops_sdk` runs the `gitops` command."""

from gitops_sdk.cli.app import run

run()
