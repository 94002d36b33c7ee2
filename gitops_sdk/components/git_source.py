"""The cluster's Git source as a Pulumi component: a GitRepository and the Secret it
authenticates with.

Like every component here it takes validated models (so bad input fails before anything is
registered), registers children with `parent=self` and stable names, and calls
`register_outputs` last. None creates a Kubernetes provider: pass one in `opts` and it flows to
the children.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pydantic

from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.base import ComponentArgs, expect_depends_on
from gitops_sdk.components.flux_install import adoption_transformation
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxResource, opaque_secret
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError, expect

__all__ = ["GitSource", "GitSourceArgs"]


class GitSourceArgs(ComponentArgs):
    """What a `GitSource` registers."""

    repository: GitRepository
    """The GitRepository."""
    credentials: dict[str, Any] | None = None
    """Values of the Secret it authenticates with (e.g. `username`/`password`, or
    `identity`/`known_hosts`): strings or Pulumi inputs, stored as Pulumi secrets."""
    depends_on: list[pulumi.Resource] = []
    """Applied to every child, e.g. the Flux install's CRDs."""
    wait: bool | None = None
    """Make `pulumi up` wait for the repository to be Ready."""
    adopt: bool = False
    """Take over the GitRepository (and Secret) `flux bootstrap` made: both carry
    `ADOPT_ANNOTATIONS` (see `FluxInstallSettings.adopt`), so `pulumi up` applies over them,
    same UIDs, and owns their fields. Default: false."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _argument_types(cls, data: Any) -> Any:
        # Wrong types are programming errors: ArgumentError (a TypeError), named precisely.
        if isinstance(data, dict):
            where = "GitSourceArgs"
            repository = data.get("repository")
            expect(repository, GitRepository, f"{where}: repository", "a GitRepository model")
            credentials = data.get("credentials")
            expect(credentials, (Mapping, type(None)), f"{where}: credentials", "a mapping")
            for key, value in (credentials or {}).items():
                expect(value, (str, pulumi.Output), f"{where}: credentials[{key!r}]", "a string")
            expect_depends_on(data, where)
        return data


class GitSource(pulumi.ComponentResource):
    """A GitRepository and, when credentials are given, the Secret it authenticates with.

    `credentials` values (e.g. `username`/`password`, or `identity`/`known_hosts`) are stored
    as Pulumi secrets; the Secret's name is the repository's `spec.secretRef.name`.
    """

    repository: FluxResource[GitRepository]
    secret: KubeObject | None

    def __init__(
        self, name: str, args: GitSourceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        expect(args, GitSourceArgs, f"GitSource {name!r}: args", "GitSourceArgs")
        repository, credentials = args.repository, args.credentials
        depends_on, wait = args.depends_on, args.wait
        super().__init__("gitops:source:GitSource", name, None, opts)
        adopt = [adoption_transformation()] if args.adopt else None
        child = pulumi.ResourceOptions(
            parent=self, depends_on=list(depends_on), transformations=adopt
        )
        self.secret = None
        deps: list[pulumi.Resource] = []
        if credentials:
            ref = repository.spec.secret_ref
            if ref is None:
                raise SpecError(
                    "GitRepository",
                    repository.name,
                    [
                        FieldIssue(
                            "spec.secretRef",
                            MISSING,
                            "is not set but credentials were given; name the Secret there",
                        )
                    ],
                )
            # No `type`: Kubernetes defaults it to Opaque, and the rendered Secret stays as is.
            self.secret = opaque_secret(
                f"{name}-auth",
                ref.name,
                repository.namespace,
                credentials,
                child,
                secret_type=None,
            )
            deps.append(self.secret)
        self.repository = FluxResource(
            f"{name}-repository",
            repository,
            pulumi.ResourceOptions(
                parent=self, depends_on=[*depends_on, *deps], transformations=adopt
            ),
            wait=wait,
        )
        self.register_outputs({"name": repository.name, "url": repository.spec.url})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.repository.__flux_ref__()
