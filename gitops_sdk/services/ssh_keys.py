"""SSH keys for git hosts: generate or load a key pair in OpenSSH formats, fingerprint it, and
github.com's pinned host keys. Pure (cryptography only); nothing here calls a network."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

__all__ = [
    "GITHUB_KNOWN_HOSTS",
    "KeyAlgorithm",
    "SSHKeyPair",
    "generate_ssh_key",
    "key_material",
    "load_ssh_key",
    "ssh_fingerprint",
]

_GITHUB_HOST_KEYS = (
    ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"),
    (
        "ecdsa-sha2-nistp256",
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9"
        "nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
    ),
    (
        "ssh-rsa",
        "AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4"
        "Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgV"
        "smerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQy"
        "ytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVr"
        "uj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ"
        "7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6Cm"
        "K2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=",
    ),
)
GITHUB_KNOWN_HOSTS = "".join(f"github.com {kind} {key}\n" for kind, key in _GITHUB_HOST_KEYS)
"""github.com's published SSH host keys (SHA256 fingerprints `+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdk
r4UvCOqU` ed25519, `p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM` ecdsa, `uNiVztksCsDhcc0u9e8BujQX
VUpKZIDTMczCvj3tD2s` rsa), in known_hosts format. Public facts; pinned so Flux never trusts a
host key on first use."""

KeyAlgorithm: TypeAlias = Literal["ed25519", "ecdsa-p384"]
"""SSH key types: `ed25519` (default), or `ecdsa-p384` as `flux bootstrap` generates."""


@dataclass(frozen=True)
class SSHKeyPair:
    """An SSH key pair in OpenSSH formats. `repr()` never shows the private key."""

    private_key: str = field(repr=False)
    """The private key, `-----BEGIN OPENSSH PRIVATE KEY-----` (unencrypted)."""
    public_key: str
    """The public key line, e.g. `ssh-ed25519 AAAA...` (no comment)."""

    @property
    def fingerprint(self) -> str:
        """`SHA256:...` as `ssh-keygen -l` prints it."""
        return ssh_fingerprint(self.public_key)

    @property
    def algorithm(self) -> str:
        """The key type of the public key line, e.g. `ssh-ed25519`."""
        return self.public_key.split()[0]


def generate_ssh_key(algorithm: KeyAlgorithm = "ed25519") -> SSHKeyPair:
    """A new key pair: ed25519, or ECDSA on curve P-384 (what `flux bootstrap` makes)."""
    # cryptography is imported on use: most programs never make a key, and all import this.
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ecdsa-p384":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        raise ValueError(f"unknown SSH key algorithm {algorithm!r}; expected ed25519 or ecdsa-p384")
    return _pair(private)


def load_ssh_key(private_key: str) -> SSHKeyPair:
    """The pair of an existing unencrypted private key (OpenSSH or PEM format)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    data = private_key.encode()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            loaded: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # Never echo the key: only say what kind of problem it is.
        raise ValueError("is not an unencrypted OpenSSH or PEM private key") from None
    if not isinstance(loaded, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"is a {type(loaded).__name__}; expected an ed25519 or ECDSA key")
    # Keep the text as given: OpenSSH encoding is randomised, re-encoding would change it.
    return SSHKeyPair(private_key=private_key, public_key=_public(loaded))


def _pair(private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> SSHKeyPair:
    from cryptography.hazmat.primitives import serialization

    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return SSHKeyPair(private_key=pem, public_key=_public(private))


def _public(private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def ssh_fingerprint(public_key: str) -> str:
    """`SHA256:<base64>` fingerprint of an OpenSSH public key line."""
    blob = base64.b64decode(public_key.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def key_material(public_key: str) -> str:
    """Type and base64 blob of a public key line, without the comment GitHub drops."""
    return " ".join(public_key.split()[:2])
