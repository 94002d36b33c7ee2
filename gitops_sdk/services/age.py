"""age keys: read the identities of a key file, derive their recipients, generate a new key.

Errors never quote a key file's text.
"""

from __future__ import annotations

import datetime

import pyrage  # type: ignore[import-untyped]

__all__ = ["AGE_KEY_CONFIG", "age_identities", "age_recipients", "generate_age_key"]

AGE_KEY_CONFIG = "ageKey"
"""The `gitops:` config key holding the stack's age identity (set it with `--secret`)."""


def age_identities(key_text: str) -> list[str]:
    """The age identities (`AGE-SECRET-KEY-1...` lines) in a key file's text.

    Raises ValueError without quoting the text when there is none or one does not parse.
    """
    lines = [line.strip() for line in key_text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys or not all(k.startswith("AGE-SECRET-KEY-1") for k in keys):
        raise ValueError("is not an age identity (expected a line 'AGE-SECRET-KEY-1...')")
    for key in keys:
        try:
            pyrage.x25519.Identity.from_str(key)
        except Exception:
            raise ValueError("holds an age identity that does not parse (truncated?)") from None
    return keys


def age_recipients(key_text: str) -> list[str]:
    """The public keys (`age1...`) of the identities in `key_text`."""
    return [str(pyrage.x25519.Identity.from_str(k).to_public()) for k in age_identities(key_text)]


def generate_age_key() -> tuple[str, str]:
    """A new age identity as (key file text in `age-keygen` format, public recipient)."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return text, recipient
