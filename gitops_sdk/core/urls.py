"""URL fields: one check for every URL the SDK takes (its scheme, no spaces or control
characters, a host, a valid port) and for credentials in it, which are refused with the secret
masked: a URL is written into the cluster, the Pulumi state and logs in plaintext."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from gitops_sdk.core.base import Invalid

__all__ = [
    "check_address",
    "check_endpoint",
    "check_url",
    "mask_url",
    "url_check",
    "url_secret",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")  # \s: every Unicode space too
# ASCII characters Go's net/url refuses in a host (non-ASCII is left to IDNA).
_BAD_HOST = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:%\[\]\x80-\U0010ffff]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A user name that is a token: GitHub, GitLab and Slack token prefixes, or a long random string.
_TOKEN_USER = re.compile(r"^(gh[opusr]_|github_pat_|glpat-|xox[abposr]-)|^[A-Za-z0-9_\-]{32,}$")
_PARAM = re.compile(r"(?:^|[?&;])\s*([A-Za-z][A-Za-z0-9_.-]*)=([^&;#]*)")
_SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "client_secret",
        "code",
        "key",
        "passwd",
        "password",
        "pwd",
        "secret",
        "sharedaccesskey",
        "sig",
        "signature",
        "token",
    }
)
# Incoming-webhook services whose URL path is itself the secret: (host suffix, path prefix).
_WEBHOOK_HOSTS = (
    ("hooks.slack.com", "/services/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    ("webhook.office.com", "/"),
    ("outlook.office.com", "/webhook"),
    ("logic.azure.com", "/workflows/"),
    ("chat.googleapis.com", "/v1/spaces/"),
    ("api.telegram.org", "/bot"),
    ("open.feishu.cn", "/open-apis/bot/"),
    ("open.larksuite.com", "/open-apis/bot/"),
    ("integrations.zoom.us", "/chat/webhooks/"),
    ("hooks.zapier.com", "/hooks/"),
)
# Self-hosted chat webhooks (Rocket.Chat, Mattermost): `/hooks/<token>`.
_HOOK_TOKEN = re.compile(
    r"/[^/]*hooks?/(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[\w-]{20,}"
)


def _authority(value: str) -> tuple[int, int]:
    """Where the authority (`user:pass@host:port`) of `value` starts and ends; a value without
    a scheme (`host:port`, `user@host:path`) is read as starting with it."""
    m = _SCHEME.match(value)
    start = m.end() if m else 0
    ends = [i for i in (value.find(c, start) for c in "/?#") if i >= 0]
    return start, min(ends, default=len(value))


def _webhook(value: str) -> bool:
    m = _SCHEME.match(value)
    if not m or m.group(1).lower() not in ("http", "https"):
        return False
    start, end = _authority(value)
    host = value[start:end].rpartition("@")[2].partition(":")[0].lower()
    path = value[end:]
    for suffix, prefix in _WEBHOOK_HOSTS:
        if (host == suffix or host.endswith("." + suffix)) and path.startswith(prefix):
            return True
    return bool(_HOOK_TOKEN.search(path.partition("?")[0]))


def url_secret(value: str) -> str | None:
    """Why `value` carries a credential (a password or token in its user info, a secret query
    parameter, or an incoming-webhook URL whose path is the secret), or None."""
    start, end = _authority(value)
    userinfo, at, _ = value[start:end].rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        if colon:
            return "holds a password"
        if _TOKEN_USER.search(user):
            return "holds a token as its user name"
    for name, _ in _PARAM.findall(value[end:] if _SCHEME.match(value) else value):
        if name.lower() in _SECRET_PARAMS:
            return f"holds a secret in its parameter {name!r}"
    if _webhook(value):
        return "is an incoming-webhook URL, whose path is its secret token"
    return None


def mask_url(value: str) -> str:
    """`value` as errors may show it: passwords, token user names and secret parameters become
    `***`, and the path of an incoming-webhook URL is left out."""
    webhook = _webhook(value)
    start, end = _authority(value)
    userinfo, at, host = value[start:end].rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        shown = "***" if _TOKEN_USER.search(user) else user
        value = value[:start] + shown + (":***" if colon else "") + "@" + host + value[end:]
    cut = _authority(value)[1] if _SCHEME.match(value) else 0
    if webhook:
        return value[:cut] + "/***"

    def hide(m: re.Match[str]) -> str:
        if m.group(1).lower() not in _SECRET_PARAMS:
            return m.group(0)
        return m.group(0)[: m.start(2) - m.start(0)] + "***"

    return value[:cut] + _PARAM.sub(hide, value[cut:])


def _describe(char: str) -> str:
    names = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a carriage return"}
    return names.get(char, f"the character U+{ord(char):04X}")


def _fail(value: str, problem: str) -> Invalid:
    # Invalid carries the value errors show: always the masked one.
    return Invalid("", mask_url(value), problem)


def _check_chars(value: str) -> None:
    if m := _UNSAFE.search(value):
        raise _fail(
            value,
            f"contains {_describe(m.group())} at position {m.start()} (a URL has no spaces or "
            "control characters; percent-encode them, e.g. '%20')",
        )
    if m := _BAD_ESCAPE.search(value):
        raise _fail(value, f"has an invalid percent-escape at position {m.start()}")


def _check_host(value: str, url: str, netloc: str, example: str) -> None:
    """Check the host and port of `url` (`value` as written, for errors)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- reading it validates the port
    except ValueError as err:
        raise _fail(value, f"is not a valid URL: {err}") from None
    host = netloc.rpartition("@")[2]
    if not parts.hostname:
        raise _fail(value, f"has no host (expected e.g. {example!r})")
    if m := _BAD_HOST.search(host):
        raise _fail(value, f"has the character {m.group()!r} in its host, which a host cannot have")


def check_url(value: str, schemes: tuple[str, ...] | None, hint: str) -> str:
    """`value` if it is a URL with one of `schemes` (None: any), a host, a valid port, no spaces
    or control characters and no credentials; else an `Invalid` showing it masked. `hint` says
    where credentials go instead."""
    _check_chars(value)
    m = _SCHEME.match(value)
    if schemes is not None and (m is None or m.group(1) not in schemes):
        listed = [f"{s}://" for s in schemes]
        either = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + f" or {listed[-1]}"
        raise _fail(value, f"must start with {either}")
    if m is None:
        raise _fail(value, "is not a URL (expected e.g. 'https://example.com/path')")
    if secret := url_secret(value):
        raise _fail(value, f"{secret}; {hint}")
    start, end = _authority(value)
    _check_host(value, value, value[start:end], f"{m.group(1)}://example.com/...")
    return value


def check_endpoint(value: str, hint: str) -> str:
    """`value` if it is `host[:port]` (object storage endpoints) or an http(s) URL."""
    if _SCHEME.match(value):
        return check_url(value, ("http", "https"), hint)
    _check_chars(value)
    if secret := url_secret(value):
        raise _fail(value, f"{secret}; {hint}")
    if "/" in value:
        raise _fail(value, "is not 'host' or 'host:port' (expected e.g. 'minio.minio.svc:9000')")
    _check_host(value, "//" + value, value, "minio.minio.svc:9000")
    return value


def check_address(value: str, hint: str) -> str:
    """`value` if it is a URL of any scheme (checked as `check_url` does) or another kind of
    address (a project ID, a topic) without spaces, control characters or credentials."""
    if _SCHEME.match(value):
        return check_url(value, None, hint)
    _check_chars(value)
    if secret := url_secret(value):
        raise _fail(value, f"{secret}; {hint}")
    return value


def url_check(schemes: tuple[str, ...] | None, hint: str) -> Callable[[str], str]:
    """A field validator: `check_url` with these schemes and hint, remembering valid URLs."""

    @functools.lru_cache(maxsize=1024)
    def check(value: str) -> str:
        return check_url(value, schemes, hint)

    return check
