"""age keys: read the identities of a key file, derive their recipients, generate a new key,
and find identities in any file (the leak guard).

Errors never quote a key file's text.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

__all__ = ["AGE_KEY_CONFIG", "AgeKeyScan", "age_identities", "age_recipients", "generate_age_key"]


def _x25519() -> Any:
    # Imported on use: it is most of this module's import time, which every program pays.
    import pyrage  # type: ignore[import-untyped]

    return pyrage.x25519


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
            _x25519().Identity.from_str(key)
        except Exception:
            raise ValueError("holds an age identity that does not parse (truncated?)") from None
    return keys


def age_recipients(key_text: str) -> list[str]:
    """The public keys (`age1...`) of the identities in `key_text`."""
    return [str(_x25519().Identity.from_str(k).to_public()) for k in age_identities(key_text)]


def generate_age_key() -> tuple[str, str]:
    """A new age identity as (key file text in `age-keygen` format, public recipient)."""
    identity = _x25519().Identity.generate()
    recipient = str(identity.to_public())
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


_BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
_PREFIX = "AGE-SECRET-KEY-1"


def _utf16(little: bool) -> re.Pattern[bytes]:
    def wide(part: bytes) -> bytes:
        return part + b"\x00" if little else b"\x00" + part

    prefix = b"".join(re.escape(wide(c.encode())) for c in _PREFIX)
    char = b"(?:" + b"|".join(re.escape(wide(c.encode())) for c in _BECH32) + b")"
    return re.compile(prefix + char + b"{4,}", re.IGNORECASE)


_AGE_KEYS = (
    re.compile(_PREFIX.encode() + b"[" + _BECH32.encode() + b"]{4,}", re.IGNORECASE),
    _utf16(little=True),
    _utf16(little=False),
)
"""An age identity as UTF-8/ASCII, UTF-16-LE and UTF-16-BE bytes (4+ key characters: a real one
has 58; fakes in fixtures and notes are flagged too, placeholders such as `...` are not)."""
_OVERLAP = 2 * (len(_PREFIX) + 4)


_MAX_REPORTED = 20


class AgeKeyScan:
    """Finds age identities in a file fed to it in pieces (`feed`), as bytes: UTF-8 text or
    binary, and UTF-16. `places` says where (`line N`, or `byte N` in UTF-16), never what."""

    def __init__(self) -> None:
        self.found: dict[tuple[int, int], str] = {}
        self.offset = 0  # bytes scanned
        self.lines = 0  # newlines in them
        self.tail = b""

    def feed(self, data: bytes) -> None:
        window, start = self.tail + data, self.offset - len(self.tail)
        before = self.lines - self.tail.count(b"\n")
        for i, rx in enumerate(_AGE_KEYS):
            for m in rx.finditer(window):
                # A match across two pieces is seen twice; UTF-16 text matches both byte
                # orders, one byte apart: count them once, where the LE match starts.
                where = (start + m.start() + (i == 2), min(i, 1))
                if where not in self.found and len(self.found) < _MAX_REPORTED:
                    line = before + window.count(b"\n", 0, m.start()) + 1
                    self.found[where] = f"line {line}" if i == 0 else f"byte {where[0]}"
        self.offset += len(data)
        self.lines += data.count(b"\n")
        self.tail = window[-_OVERLAP:]

    @property
    def full(self) -> bool:
        """Enough found to report: scanning further changes nothing."""
        return len(self.found) >= _MAX_REPORTED

    @property
    def places(self) -> tuple[str, ...]:
        """Where the identities found are, in file order, each place once."""
        return tuple(dict.fromkeys(self.found[k] for k in sorted(self.found)))
