"""The homelab program. Staging and production run this same program; they differ only in
their stack config (`Pulumi.staging.yaml`, `Pulumi.production.yaml`)."""

import os

import pulumi
import pulumi_kubernetes as k8s

from gitops_sdk import GitopsError, stack_context
from gitops_sdk.components.render import secrets_left_out
from gitops_sdk.stack import config
from homelab import build

with stack_context(pulumi.get_stack()):
    try:
        cfg = config.from_pulumi()
        opts = None
        render_dir = os.environ.get("GITOPS_RENDER_DIR") or cfg.render_dir
        if render_dir:
            # No cluster: the provider writes the YAML it would apply. The stack program, never
            # a component, makes providers.
            renderer = k8s.Provider("render", render_yaml_to_directory=render_dir)
            opts = pulumi.ResourceOptions(provider=renderer)
            # The rendered files are plain YAML: never a Secret's values in them.
            secrets_left_out()
        build(cfg, opts)
    except GitopsError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(str(err)) from None
