"""Typed APIs: Flux kinds and third-party kinds (Flagger, External Secrets), as pydantic
models with no Pulumi. Imports only `core`."""

__all__: list[str] = []
