"""The core: base model, field types, references and errors. Imports nothing above it."""
