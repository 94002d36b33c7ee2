"""The homelab program. Staging and production run this same program; they differ only in
their stack config (`Pulumi.staging.yaml`, `Pulumi.production.yaml`)."""

import pulumi

from gitops_sdk import GitopsError, config, stack_context
from homelab import build

with stack_context(pulumi.get_stack()):
    try:
        build(config.from_pulumi())
    except GitopsError as err:
        # RunError: Pulumi prints the message alone, without a Python traceback.
        raise pulumi.RunError(str(err)) from None
