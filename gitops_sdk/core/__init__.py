"""The core: base model, field types, references and errors. Imports nothing above it."""

__all__: list[str] = []
