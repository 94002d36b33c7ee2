"""Services: sops/age, the GitHub client, PromQL checking, setter markers, the install
manifest, CRD schemas, Renovate. No Pulumi resources. Imports `core` and `api`."""

__all__: list[str] = []
