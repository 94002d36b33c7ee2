"""The stack: config schema, layers, graph and offline synth. Imports everything below."""

__all__: list[str] = []
