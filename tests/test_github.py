"""GitHub deploy keys, webhooks and the Receiver, against a local stand-in for the REST API.

`FakeGithub` (tests/fake_github.py) serves the endpoints PyGithub calls, with state; tests
assert the exact requests and the state they leave.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import subprocess
import sys
from typing import Any

import pulumi
import pytest
from fake_github import FAST, TOKEN, FakeGithub
from helpers import GITHUB_RECEIVER
from pulumi.runtime import rpc
from pytest_httpserver import HTTPServer

from gitops_sdk import (
    ConfigError,
    CrossReferenceError,
    FluxResource,
    GitRepository,
    GitSource,
    SpecError,
    synth,
)
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.git_source import GitSourceArgs
from gitops_sdk.components.github import (
    GithubConfig,
    GithubDeployKey,
    GithubDeployKeyArgs,
    GithubReceiver,
    GithubReceiverArgs,
)
from gitops_sdk.components.github_providers import (
    DeployKeyProvider,
    RepositoryWebhookProvider,
    WebhookTokenProvider,
)
from gitops_sdk.services.github import GithubClient
from gitops_sdk.services.github_errors import (
    GithubAuthError,
    GithubError,
    GithubNotFoundError,
    GithubPermissionError,
    GithubRateLimitError,
    GithubUnreachableError,
)
from gitops_sdk.services.github_urls import (
    api_url_for_host,
    git_host,
    parse_repository_url,
    ssh_url,
    webhook_path,
)
from gitops_sdk.services.ssh_keys import GITHUB_KNOWN_HOSTS, generate_ssh_key, load_ssh_key
from gitops_sdk.stack.synth import RecordingMocks


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGithub:
    fake = FakeGithub(httpserver)
    fake.add_repo("octocat/fleet")
    return fake


@pytest.fixture
def ghe(httpserver: HTTPServer) -> FakeGithub:
    fake = FakeGithub(httpserver, prefix="/api/v3")
    fake.add_repo("octocat/fleet")
    return fake


def key_props(gh: FakeGithub, **extra: Any) -> dict[str, Any]:
    return {
        "owner": "octocat",
        "repository": "fleet",
        "base_url": gh.base_url,
        "token": TOKEN,
        "title": "flux-staging",
        "read_only": True,
        "algorithm": "ed25519",
        "identity": None,
        **extra,
    }


def client(gh: FakeGithub, repo: str = "fleet", token: str = TOKEN) -> GithubClient:
    return GithubClient("octocat", repo, token, gh.base_url, FAST)


# --- pure helpers --------------------------------------------------------------------------------


def test_known_hosts_are_githubs_published_fingerprints() -> None:
    published = {
        "ssh-ed25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
        "ecdsa-sha2-nistp256": "p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
        "ssh-rsa": "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    }
    found = {}
    for line in GITHUB_KNOWN_HOSTS.splitlines():
        host, kind, blob = line.split()
        assert host == "github.com"
        digest = hashlib.sha256(base64.b64decode(blob)).digest()
        found[kind] = base64.b64encode(digest).decode().rstrip("=")
    assert found == published


@pytest.mark.parametrize(
    ("algorithm", "kind"), [("ed25519", "ssh-ed25519"), ("ecdsa-p384", "ecdsa-sha2-nistp384")]
)
def test_generate_ssh_key(algorithm: Any, kind: str) -> None:
    pair = generate_ssh_key(algorithm)
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert pair.public_key.startswith(f"{kind} ")
    assert pair.algorithm == kind
    assert pair.fingerprint.startswith("SHA256:")
    assert load_ssh_key(pair.private_key) == pair
    assert "PRIVATE" not in repr(pair)


def test_load_ssh_key_rejects_garbage_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=r"^is not an unencrypted OpenSSH or PEM private key$"):
        load_ssh_key("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n")


def test_webhook_path_is_sha256_of_token_name_namespace() -> None:
    expected = hashlib.sha256(b"s3cr3tgithub-receiverflux-system").hexdigest()
    assert webhook_path("s3cr3t", "github-receiver", "flux-system") == f"/hook/{expected}"


def test_urls() -> None:
    assert parse_repository_url("ssh://git@github.com/octocat/fleet.git") == (
        "github.com",
        "octocat",
        "fleet",
    )
    assert parse_repository_url("https://ghe.example.com/team/fleet") == (
        "ghe.example.com",
        "team",
        "fleet",
    )
    with pytest.raises(ValueError, match="is not a repository URL"):
        parse_repository_url("https://github.com/octocat")
    assert ssh_url("o", "r") == "ssh://git@github.com/o/r"
    assert api_url_for_host("github.com") == "https://api.github.com"
    assert api_url_for_host("ghe.example.com") == "https://ghe.example.com/api/v3"
    assert git_host("https://api.github.com") == "github.com"
    assert git_host("https://ghe.example.com/api/v3") == "ghe.example.com"


def test_pygithub_is_imported_only_when_a_call_is_made() -> None:
    # It (and requests under it) doubles what importing the SDK costs; most programs never call.
    code = (
        "import sys, gitops_sdk.components.github, gitops_sdk.cli.app; "
        "print(sorted(m for m in ('github', 'requests') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


# --- DeployKeyProvider -----------------------------------------------------------------------


def test_create_registers_a_read_only_key(gh: FakeGithub) -> None:
    result = DeployKeyProvider(FAST).create(key_props(gh))

    assert result.id == "octocat/fleet:flux-staging"
    outs = result.outs or {}
    public = outs["public_key"]
    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/keys", None),
        (
            "POST",
            "/repos/octocat/fleet/keys",
            {"title": "flux-staging", "key": public, "read_only": True},
        ),
    ]
    assert gh.auth_headers() == {f"token {TOKEN}"}
    (kid,) = gh.repos["octocat/fleet"].keys
    assert outs["key_id"] == kid
    assert public.startswith("ssh-ed25519 ")
    assert load_ssh_key(outs["private_key"]).public_key == public
    assert outs["fingerprint"] == load_ssh_key(outs["private_key"]).fingerprint


def test_create_ecdsa_read_write(gh: FakeGithub) -> None:
    outs = (
        DeployKeyProvider(FAST).create(key_props(gh, algorithm="ecdsa-p384", read_only=False)).outs
        or {}
    )
    assert outs["public_key"].startswith("ecdsa-sha2-nistp384 ")
    (key,) = gh.repos["octocat/fleet"].keys.values()
    assert key["read_only"] is False


def test_create_adopts_our_key_when_it_is_already_there(gh: FakeGithub) -> None:
    pair = generate_ssh_key()
    kid = gh.add_key("octocat/fleet", "flux-staging", pair.public_key)

    outs = DeployKeyProvider(FAST).create(key_props(gh, identity=pair.private_key)).outs or {}

    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/keys", None),
    ]
    assert outs["key_id"] == kid
    assert outs["private_key"] == pair.private_key
    assert list(gh.repos["octocat/fleet"].keys) == [kid]


def test_create_rotates_a_different_key_with_our_title(gh: FakeGithub) -> None:
    old = gh.add_key("octocat/fleet", "flux-staging", generate_ssh_key().public_key)
    other = gh.add_key("octocat/fleet", "ci", generate_ssh_key().public_key)

    outs = DeployKeyProvider(FAST).create(key_props(gh)).outs or {}

    calls = gh.calls()
    assert calls[:3] == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/keys", None),
        ("DELETE", f"/repos/octocat/fleet/keys/{old}", None),
    ]
    assert calls[3][:2] == ("POST", "/repos/octocat/fleet/keys")
    assert len(calls) == 4
    keys = gh.repos["octocat/fleet"].keys
    assert sorted(keys) == [other, outs["key_id"]]
    assert keys[outs["key_id"]]["key"] == outs["public_key"]


def test_diff() -> None:
    provider = DeployKeyProvider(FAST)
    pair = generate_ssh_key()
    olds = {
        "owner": "o",
        "repository": "r",
        "base_url": "https://api.github.com",
        "token": "t",
        "title": "flux-x",
        "read_only": True,
        "algorithm": "ed25519",
        "key_id": 1,
        "public_key": pair.public_key,
        "private_key": pair.private_key,
    }
    news = {k: olds[k] for k in ("owner", "repository", "base_url", "token", "title")}
    news.update(read_only=True, algorithm="ed25519", identity=None)

    same = provider.diff("id", olds, news)
    assert (same.changes, same.replaces) == (False, [])
    mode = provider.diff("id", olds, {**news, "read_only": False})
    assert (mode.changes, mode.replaces) == (True, [])
    token = provider.diff("id", olds, {**news, "token": "t2"})
    assert (token.changes, token.replaces) == (True, [])
    moved = provider.diff("id", olds, {**news, "repository": "r2", "title": "flux-y"})
    assert (moved.changes, moved.replaces) == (True, ["repository", "title"])
    algo = provider.diff("id", olds, {**news, "algorithm": "ecdsa-p384"})
    assert algo.replaces == ["algorithm"]
    # A given identity replaces only when it is a different key.
    assert provider.diff("id", olds, {**news, "identity": pair.private_key}).replaces == []
    other = generate_ssh_key().private_key
    assert provider.diff("id", olds, {**news, "identity": other}).replaces == ["identity"]


def test_update_read_only_re_registers_the_same_key(gh: FakeGithub) -> None:
    provider = DeployKeyProvider(FAST)
    olds = provider.create(key_props(gh)).outs or {}
    gh.server.clear_log()

    outs = provider.update("id", olds, key_props(gh, read_only=False)).outs or {}

    old_id = olds["key_id"]
    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/keys", None),
        ("DELETE", f"/repos/octocat/fleet/keys/{old_id}", None),
        (
            "POST",
            "/repos/octocat/fleet/keys",
            {"title": "flux-staging", "key": olds["public_key"], "read_only": False},
        ),
    ]
    assert outs["private_key"] == olds["private_key"]
    assert outs["read_only"] is False
    assert outs["key_id"] != old_id
    assert list(gh.repos["octocat/fleet"].keys) == [outs["key_id"]]


def test_update_token_only_adopts(gh: FakeGithub) -> None:
    provider = DeployKeyProvider(FAST)
    olds = provider.create(key_props(gh)).outs or {}
    gh.server.clear_log()
    outs = provider.update("id", {**olds, "token": "old"}, key_props(gh)).outs or {}
    assert [c[0] for c in gh.calls()] == ["GET", "GET"]
    assert outs["key_id"] == olds["key_id"]
    assert outs["token"] == TOKEN


def test_delete_removes_the_key_and_tolerates_it_gone(gh: FakeGithub) -> None:
    provider = DeployKeyProvider(FAST)
    outs = provider.create(key_props(gh)).outs or {}
    gh.server.clear_log()

    provider.delete("id", outs)
    provider.delete("id", outs)  # already gone: no error

    kid = outs["key_id"]
    assert gh.calls() == [
        ("DELETE", f"/repos/octocat/fleet/keys/{kid}", None),
        ("DELETE", f"/repos/octocat/fleet/keys/{kid}", None),
    ]
    assert gh.repos["octocat/fleet"].keys == {}


def test_read_refreshes_or_reports_gone(gh: FakeGithub) -> None:
    provider = DeployKeyProvider(FAST)
    outs = provider.create(key_props(gh)).outs or {}
    gh.repos["octocat/fleet"].keys[outs["key_id"]]["read_only"] = False  # edited by hand

    found = provider.read("octocat/fleet:flux-staging", outs)
    assert found.id == "octocat/fleet:flux-staging"
    assert (found.outs or {})["read_only"] is False

    gh.repos["octocat/fleet"].keys.clear()
    gone = provider.read("octocat/fleet:flux-staging", outs)
    assert (gone.id, gone.outs) == ("", {})


def test_github_enterprise_base_url(ghe: FakeGithub) -> None:
    assert ghe.base_url.endswith("/api/v3")
    outs = DeployKeyProvider(FAST).create(key_props(ghe)).outs or {}
    paths = [request.path for request, _ in ghe.server.log]
    assert paths == [
        "/api/v3/repos/octocat/fleet",
        "/api/v3/repos/octocat/fleet/keys",
        "/api/v3/repos/octocat/fleet/keys",
    ]
    DeployKeyProvider(FAST).delete("id", outs)
    assert ghe.server.log[-1][0].path == f"/api/v3/repos/octocat/fleet/keys/{outs['key_id']}"
    assert ghe.repos["octocat/fleet"].keys == {}


# --- errors ----------------------------------------------------------------------------------


def _raises(exc: type[GithubError], match: str, call: Any) -> GithubError:
    with pytest.raises(exc, match=match) as info:
        call()
    err = info.value
    assert TOKEN not in str(err)
    assert err.repository == "octocat/fleet"
    return err


def test_bad_token(gh: FakeGithub) -> None:
    provider = DeployKeyProvider(FAST)
    err = _raises(
        GithubAuthError,
        r"^GitHub repository 'octocat/fleet': cannot read the repository: the token was "
        r"rejected \(401 Bad credentials\); check that it is valid and not expired\. It needs "
        r"repository admin",
        lambda: provider.create(key_props(gh, token="ghp_wrong_token")),
    )
    assert err.status == 401
    assert "ghp_wrong_token" not in str(err)


def test_missing_repository(gh: FakeGithub) -> None:
    del gh.repos["octocat/fleet"]
    err = _raises(
        GithubNotFoundError,
        r"^GitHub repository 'octocat/fleet': cannot read the repository: not found "
        r"\(404 Not Found\); check the owner and name, and that the token can see the "
        r"repository\. It needs repository admin",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )
    assert err.status == 404


def test_token_without_repo_admin(gh: FakeGithub) -> None:
    gh.fail("GET", r"/repos/octocat/fleet/keys", 403, "Resource not accessible by integration")
    err = _raises(
        GithubPermissionError,
        r"cannot list deploy keys: the token lacks permission \(403 Resource not accessible by "
        r"integration\); it needs repository admin: deploy keys need a classic token with scope "
        r"'repo' .* or a fine-grained token with 'Administration: read and write'",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )
    assert err.permission is not None and "Administration" in err.permission


def test_account_that_is_not_admin_fails_before_touching_keys(gh: FakeGithub) -> None:
    gh.repos["octocat/fleet"].admin = False
    _raises(
        GithubPermissionError,
        r"cannot list deploy keys: the token's account is not an admin of the repository",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )
    assert [path for _, path, _ in gh.calls()] == ["/repos/octocat/fleet"]


def test_primary_rate_limit_says_when_it_resets(gh: FakeGithub) -> None:
    reset = datetime.datetime(2099, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    gh.fail(
        "GET",
        r"/repos/octocat/fleet",
        403,
        "API rate limit exceeded for user ID 1.",
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset.timestamp()))},
    )
    err = _raises(
        GithubRateLimitError,
        r"cannot read the repository: rate limited by the GitHub API \(403 API rate limit "
        r"exceeded for user ID 1\.\); the limit resets at 2099-01-02 03:04:05 UTC \(in about "
        r"\d+ min\); retry then",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )
    assert isinstance(err, GithubRateLimitError)
    assert err.reset_at == reset


def test_secondary_rate_limit_429_with_retry_after(gh: FakeGithub) -> None:
    gh.fail("POST", r"/repos/octocat/fleet/keys", 429, "Too many requests", {"Retry-After": "120"})
    before = datetime.datetime.now(datetime.UTC)
    err = _raises(
        GithubRateLimitError,
        r"cannot register the deploy key: rate limited by the GitHub API \(429 Too many "
        r"requests\); the limit resets at .* UTC \(in about 2 min\)",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )
    assert isinstance(err, GithubRateLimitError) and err.reset_at is not None
    assert 119 <= (err.reset_at - before).total_seconds() <= 125


def test_unreachable_api() -> None:
    with pytest.raises(GithubUnreachableError) as info:
        GithubClient("octocat", "fleet", TOKEN, "http://127.0.0.1:9", FAST).repository()
    assert str(info.value) == (
        "GitHub repository 'octocat/fleet': cannot read the repository: the GitHub API at "
        "http://127.0.0.1:9 is unreachable (ConnectionError); check the base URL, network and "
        "proxy. The token needs read access to the repository (classic scope 'repo', or "
        "fine-grained 'Metadata: read')"
    )


def test_other_api_errors_keep_githubs_message(gh: FakeGithub) -> None:
    gh.fail("POST", r"/repos/octocat/fleet/keys", 422, "Validation Failed: key is invalid")
    _raises(
        GithubError,
        r"^GitHub repository 'octocat/fleet': cannot register the deploy key: GitHub answered "
        r"422 Validation Failed: key is invalid$",
        lambda: DeployKeyProvider(FAST).create(key_props(gh)),
    )


def test_invalid_identity_is_not_echoed(gh: FakeGithub) -> None:
    bad = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90LWEta2V5\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(ConfigError) as info:
        DeployKeyProvider(FAST).create(key_props(gh, identity=bad))
    assert str(info.value) == (
        "deploy key 'flux-staging' for 'octocat/fleet': the given identity is not an "
        "unencrypted OpenSSH or PEM private key"
    )
    assert gh.calls() == []


def test_no_token_is_a_config_error(gh: FakeGithub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(
        ConfigError, match=r"no API token; set `pulumi config set --secret gitops:githubToken"
    ):
        DeployKeyProvider(FAST).create(key_props(gh, token=None))


def test_provider_falls_back_to_github_token_env(
    gh: FakeGithub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    DeployKeyProvider(FAST).create(key_props(gh, token=None))
    assert gh.auth_headers() == {f"token {TOKEN}"}


# --- webhooks ------------------------------------------------------------------------------------

RECEIVER = "https://flux-webhook.example.com"


def hook_props(gh: FakeGithub, **extra: Any) -> dict[str, Any]:
    return {
        "owner": "octocat",
        "repository": "fleet",
        "base_url": gh.base_url,
        "token": TOKEN,
        "url": f"{RECEIVER}/hook/aaa",
        "secret": "webhook-secret",
        "events": ["push"],
        "adopt_prefix": f"{RECEIVER}/hook/",
        **extra,
    }


HOOK_CONFIG = {"content_type": "json", "secret": "webhook-secret", "insecure_ssl": "0"}


def test_webhook_create(gh: FakeGithub) -> None:
    result = RepositoryWebhookProvider(FAST).create(hook_props(gh))
    outs = result.outs or {}
    hid = outs["hook_id"]
    assert result.id == f"octocat/fleet/hooks/{hid}"
    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/hooks", None),
        (
            "POST",
            "/repos/octocat/fleet/hooks",
            {
                "name": "web",
                "config": {"url": f"{RECEIVER}/hook/aaa", **HOOK_CONFIG},
                "events": ["push"],
                "active": True,
            },
        ),
    ]
    assert gh.auth_headers() == {f"token {TOKEN}"}
    assert gh.repos["octocat/fleet"].hooks[hid]["config"]["secret"] == "webhook-secret"


def test_webhook_create_adopts_ours_and_removes_duplicates(gh: FakeGithub) -> None:
    old = gh.add_hook("octocat/fleet", f"{RECEIVER}/hook/old-token-path")
    dup = gh.add_hook("octocat/fleet", f"{RECEIVER}/hook/older")
    other = gh.add_hook("octocat/fleet", "https://ci.example.com/hook")

    outs = RepositoryWebhookProvider(FAST).create(hook_props(gh)).outs or {}

    assert outs["hook_id"] == old
    assert gh.calls()[2:] == [
        ("DELETE", f"/repos/octocat/fleet/hooks/{dup}", None),
        (
            "PATCH",
            f"/repos/octocat/fleet/hooks/{old}",
            {
                "name": "web",
                "config": {"url": f"{RECEIVER}/hook/aaa", **HOOK_CONFIG},
                "events": ["push"],
                "active": True,
            },
        ),
    ]
    assert sorted(gh.repos["octocat/fleet"].hooks) == [old, other]


def test_webhook_diff_and_update(gh: FakeGithub) -> None:
    provider = RepositoryWebhookProvider(FAST)
    olds = provider.create(hook_props(gh)).outs or {}
    news = hook_props(gh, url=f"{RECEIVER}/hook/bbb", secret="rotated")
    diff = provider.diff("id", olds, news)
    assert (diff.changes, diff.replaces) == (True, [])
    assert provider.diff("id", olds, hook_props(gh)).changes is False
    assert provider.diff("id", olds, hook_props(gh, repository="x")).replaces == ["repository"]
    gh.server.clear_log()

    outs = provider.update("id", olds, news).outs or {}

    hid = olds["hook_id"]
    assert outs["hook_id"] == hid
    assert gh.calls()[-1] == (
        "PATCH",
        f"/repos/octocat/fleet/hooks/{hid}",
        {
            "name": "web",
            "config": {**HOOK_CONFIG, "url": f"{RECEIVER}/hook/bbb", "secret": "rotated"},
            "events": ["push"],
            "active": True,
        },
    )
    assert len(gh.repos["octocat/fleet"].hooks) == 1


def test_webhook_update_recreates_a_hook_deleted_by_hand(gh: FakeGithub) -> None:
    provider = RepositoryWebhookProvider(FAST)
    olds = provider.create(hook_props(gh)).outs or {}
    gh.repos["octocat/fleet"].hooks.clear()
    outs = provider.update("id", olds, hook_props(gh)).outs or {}
    assert outs["hook_id"] != olds["hook_id"]
    assert list(gh.repos["octocat/fleet"].hooks) == [outs["hook_id"]]


def test_webhook_read_and_delete(gh: FakeGithub) -> None:
    provider = RepositoryWebhookProvider(FAST)
    outs = provider.create(hook_props(gh)).outs or {}
    hid = outs["hook_id"]
    assert provider.read("x", outs).id == "x"
    gh.server.clear_log()

    provider.delete("x", outs)
    provider.delete("x", outs)

    assert gh.calls() == [("DELETE", f"/repos/octocat/fleet/hooks/{hid}", None)] * 2
    assert gh.repos["octocat/fleet"].hooks == {}
    assert provider.read("x", outs).id == ""


def test_webhook_without_permission_names_it(gh: FakeGithub) -> None:
    gh.fail("POST", r"/repos/octocat/fleet/hooks", 403, "Resource not accessible by integration")
    _raises(
        GithubPermissionError,
        r"cannot create the webhook: the token lacks permission .* it needs webhook admin: a "
        r"classic token with scope 'admin:repo_hook' \(or 'repo'\), or a fine-grained token "
        r"with 'Webhooks: read and write'",
        lambda: RepositoryWebhookProvider(FAST).create(hook_props(gh)),
    )


def test_webhook_token_is_random_and_stable() -> None:
    provider = WebhookTokenProvider()
    first = provider.create({"size": 32}).outs or {}
    second = provider.create({"size": 32}).outs or {}
    assert re.fullmatch(r"[0-9a-f]{64}", first["token"])
    assert first["token"] != second["token"]
    assert provider.diff("id", first, {"size": 32, "token": None}).changes is False


# --- components under the mock runtime ---------------------------------------------------------

FAKE_PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"


class GithubMocks(RecordingMocks):
    """Records registrations; dynamic GitHub resources answer with made-up outputs."""

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        rid, outs = super().new_resource(args)
        if args.typ == "pulumi-python:dynamic/github:DeployKey":
            outs.update(
                key_id=7,
                public_key="ssh-ed25519 AAAAfake",
                private_key=FAKE_PRIVATE,
                fingerprint="SHA256:fake",
            )
        elif args.typ == "pulumi-python:dynamic/github:WebhookToken":
            outs.update(token="generated-token")
        return rid, outs

    def by_type(self, typ: str) -> list[Any]:
        return [r for r in self.resources if r.type == typ]


@pytest.fixture
def gmocks() -> GithubMocks:
    recorder = GithubMocks()
    synth.start(recorder, stack="test", config={})
    return recorder


def fleet(url: str = "ssh://git@github.com/octocat/fleet", **extra: Any) -> GitRepository:
    return GitRepository(
        name="flux-system",
        namespace="flux-system",
        url=url,
        interval="1m",
        **({"secret_ref": {"name": "flux-system"}} | extra),
    )


def unwrap(value: Any) -> Any:
    assert rpc.is_rpc_secret(value), value
    return rpc.unwrap_rpc_secret(value)


def test_deploy_key_component_registers_key_and_secret(gmocks: GithubMocks) -> None:
    made: list[GithubDeployKey] = []
    args = GithubDeployKeyArgs(source=fleet(), token=TOKEN)
    synth.run(lambda: made.append(GithubDeployKey("github", args)))

    (comp,) = made
    assert comp.deploy_key_read_only is True
    assert comp.deploy_key.read_only is True
    assert comp.github_repository == "octocat/fleet"
    assert comp.__flux_ref__() == ("GitRepository", "flux-system", "flux-system")
    (key,) = gmocks.by_type("pulumi-python:dynamic/github:DeployKey")
    assert key.name == "github-key"
    inputs = key.inputs
    assert {k: inputs[k] for k in ("owner", "repository", "base_url", "title", "read_only")} == {
        "owner": "octocat",
        "repository": "fleet",
        "base_url": "https://api.github.com",
        "title": "flux-test",
        "read_only": True,
    }
    assert inputs["algorithm"] == "ed25519"
    assert unwrap(inputs["token"]) == TOKEN
    assert "__provider" in inputs

    (secret,) = gmocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "flux-system", "namespace": "flux-system"}
    assert unwrap(secret["stringData"]) == {
        "identity": FAKE_PRIVATE,
        "identity.pub": "ssh-ed25519 AAAAfake",
        "known_hosts": GITHUB_KNOWN_HOSTS,
    }
    assert "fake" not in str(synth.redact(secret))
    names = [(r.type, r.name) for r in gmocks.resources]
    assert ("gitops:github:GithubDeployKey", "github") in names
    assert ("kubernetes:core/v1:Secret", "github-auth") in names


def test_deploy_key_component_read_write_ecdsa_identity_and_enterprise(
    gmocks: GithubMocks,
) -> None:
    made: list[GithubDeployKey] = []
    args = GithubDeployKeyArgs(
        source=fleet("ssh://git@ghe.example.com/team/fleet"),
        token=TOKEN,
        identity="existing-key",
        title="flux-kubestaging",
        read_only=False,
        algorithm="ecdsa-p384",
        known_hosts="ghe.example.com ssh-ed25519 AAAAghe\n",
    )
    synth.run(lambda: made.append(GithubDeployKey("github", args)))

    assert made[0].deploy_key_read_only is False
    (key,) = gmocks.by_type("pulumi-python:dynamic/github:DeployKey")
    assert key.inputs["base_url"] == "https://ghe.example.com/api/v3"
    assert (key.inputs["title"], key.inputs["read_only"]) == ("flux-kubestaging", False)
    assert key.inputs["algorithm"] == "ecdsa-p384"
    assert unwrap(key.inputs["identity"]) == "existing-key"
    (secret,) = gmocks.by_kind("Secret")
    assert unwrap(secret["stringData"])["known_hosts"] == "ghe.example.com ssh-ed25519 AAAAghe\n"


def test_deploy_key_component_accepts_a_git_source(gmocks: GithubMocks) -> None:
    def program() -> None:
        source = GitSource("fleet", GitSourceArgs(repository=fleet()))
        GithubDeployKey("github", GithubDeployKeyArgs(source=source, token=TOKEN))

    synth.run(program)
    assert len(gmocks.by_kind("GitRepository")) == 1
    assert len(gmocks.by_type("pulumi-python:dynamic/github:DeployKey")) == 1


def test_components_take_a_registered_git_repository(gmocks: GithubMocks) -> None:
    def program() -> None:
        repo = FluxResource("fleet", fleet())
        GithubDeployKey("github", GithubDeployKeyArgs(source=repo, token=TOKEN))
        GithubReceiver("push", GithubReceiverArgs(source=repo, url=RECEIVER, token=TOKEN))

    synth.run(program)
    assert len(gmocks.by_kind("Receiver")) == 1
    # The deploy key component stands for its GitRepository, e.g. as a Receiver's source.
    made: list[GithubReceiver] = []

    def chained() -> None:
        key = GithubDeployKey("k", GithubDeployKeyArgs(source=fleet(), token=TOKEN))
        made.append(GithubReceiver("r", GithubReceiverArgs(source=key, url=RECEIVER, token=TOKEN)))

    synth.run(chained)
    assert made[0].receiver.flux_object.spec.resources[0].name == "flux-system"
    with pytest.raises(
        CrossReferenceError,
        match=r"^GithubDeployKey 'github': source must be a GitRepository \(the model, its "
        r"FluxResource or a GitSource\), got str$",
    ):
        GithubDeployKey("github", GithubDeployKeyArgs(source="flux-system", token=TOKEN))
    apps = Kustomization(
        name="apps", namespace="flux-system", interval="1m", prune=True, source_ref=fleet()
    )
    with pytest.raises(
        CrossReferenceError, match=r"^GithubReceiver 'r': .*, got Kustomization 'apps'$"
    ):
        GithubReceiver("r", GithubReceiverArgs(source=apps, url=RECEIVER, token=TOKEN))


def test_deploy_key_token_from_github_token_env(
    gmocks: GithubMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_env")
    synth.run(lambda: GithubDeployKey("github", GithubDeployKeyArgs(source=fleet())))
    (key,) = gmocks.by_type("pulumi-python:dynamic/github:DeployKey")
    assert unwrap(key.inputs["token"]) == "ghp_from_env"


def test_deploy_key_token_and_identity_from_secret_config(
    gmocks: GithubMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_env")
    pulumi.runtime.set_config("gitops:githubToken", "ghp_from_config")
    pulumi.runtime.set_config("gitops:githubIdentity", "adopted-key")
    synth.run(lambda: GithubDeployKey("github", GithubDeployKeyArgs(source=fleet())))
    (key,) = gmocks.by_type("pulumi-python:dynamic/github:DeployKey")
    assert unwrap(key.inputs["token"]) == "ghp_from_config"
    assert unwrap(key.inputs["identity"]) == "adopted-key"


def test_deploy_key_token_from_pulumi_github_provider_key(gmocks: GithubMocks) -> None:
    pulumi.runtime.set_config("github:token", "ghp_provider_key")
    synth.run(lambda: GithubDeployKey("github", GithubDeployKeyArgs(source=fleet())))
    (key,) = gmocks.by_type("pulumi-python:dynamic/github:DeployKey")
    assert unwrap(key.inputs["token"]) == "ghp_provider_key"
    assert key.inputs.get("identity") is None


def test_deploy_key_needs_a_token(gmocks: GithubMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(
        ConfigError,
        match=r"no GitHub token: run `pulumi config set --secret gitops:githubToken <token>`",
    ):
        GithubDeployKey("github", GithubDeployKeyArgs(source=fleet()))


@pytest.mark.parametrize(
    ("source", "settings", "message"),
    [
        (
            fleet("https://github.com/octocat/fleet"),
            None,
            r"^GitRepository 'flux-system': spec.url 'https://github.com/octocat/fleet': is not "
            r"an ssh:// URL; a deploy key authenticates over SSH: use "
            r"'ssh://git@github.com/octocat/fleet'$",
        ),
        (
            GitRepository(
                name="flux-system",
                namespace="flux-system",
                url="ssh://git@github.com/octocat/fleet",
                interval="1m",
            ),
            None,
            r"^GitRepository 'flux-system': spec.secretRef: is not set; name the Secret",
        ),
        (
            fleet("ssh://git@ghe.example.com/team/fleet"),
            None,
            r"^GithubDeployKeyArgs: knownHosts: is required for the GitHub Enterprise host "
            r"'ghe.example.com'",
        ),
        (
            fleet(),
            {"owner": "someone"},
            r"^GithubDeployKeyArgs: owner 'someone': does not match the GitRepository "
            r"'flux-system' URL 'ssh://git@github.com/octocat/fleet' \('octocat'\)$",
        ),
    ],
)
def test_deploy_key_component_validates_before_registering(
    gmocks: GithubMocks, source: GitRepository, settings: dict[str, Any] | None, message: str
) -> None:
    args = GithubDeployKeyArgs(source=source, token=TOKEN, **(settings or {}))
    with pytest.raises(SpecError, match=message):
        GithubDeployKey("github", args)
    assert gmocks.resources == []


def test_args_validate_at_construction() -> None:
    with pytest.raises(SpecError, match=r"^GithubDeployKeyArgs: algorithm 'rsa': expected"):
        GithubDeployKeyArgs(source=fleet(), algorithm="rsa")
    with pytest.raises(
        SpecError, match=r"^GithubReceiverArgs: url 'flux.example.com': must start with http"
    ):
        GithubReceiverArgs(source=fleet(), url="flux.example.com")
    with pytest.raises(SpecError, match=r"baseUrl 'ghe.example.com': must start with http"):
        GithubDeployKeyArgs(source=fleet(), base_url="ghe.example.com")
    with pytest.raises(
        SpecError, match=r"^GithubDeployKeyArgs: source: required field is missing$"
    ):
        GithubDeployKeyArgs()  # type: ignore[call-arg]
    with pytest.raises(SpecError, match=r"^GithubReceiverArgs: tokens: unknown field$"):
        GithubReceiverArgs(source=fleet(), url=RECEIVER, tokens=TOKEN)  # type: ignore[call-arg]
    with pytest.raises(SpecError, match=r"^GithubDeployKeyArgs: webhookToken: unknown field$"):
        GithubDeployKeyArgs(source=fleet(), webhookToken=TOKEN)  # type: ignore[call-arg]


def test_args_never_show_secrets() -> None:
    key = GithubDeployKeyArgs(source=fleet(), token=TOKEN, identity=FAKE_PRIVATE)
    hook = GithubReceiverArgs(source=fleet(), url=RECEIVER, token=TOKEN, webhook_token="s3cr3t")
    for args in (key, hook):
        assert TOKEN not in repr(args)
    assert "PRIVATE" not in repr(key) and "s3cr3t" not in repr(hook)
    # camelCase keys work as everywhere else; the secrets pass through untouched.
    camel = GithubReceiverArgs.model_validate({"source": 1, "url": RECEIVER, "webhookToken": "t"})
    assert camel.webhook_token == "t"
    assert (key.token, key.identity) == (TOKEN, FAKE_PRIVATE)


def test_receiver_component(gmocks: GithubMocks, assert_crd_valid: Any) -> None:
    made: list[GithubReceiver] = []

    def program() -> None:
        source = GitSource("fleet", GitSourceArgs(repository=fleet()))
        args = GithubReceiverArgs(
            source=source, url="https://flux-webhook.example.com/", token=TOKEN
        )
        made.append(GithubReceiver("github", args))

    synth.run(program)

    (token,) = gmocks.by_type("pulumi-python:dynamic/github:WebhookToken")
    assert token.name == "github-token"
    secrets = {s["metadata"]["name"]: s for s in gmocks.by_kind("Secret")}
    secret = secrets["github-webhook-token"]
    assert secret["metadata"]["namespace"] == "flux-system"
    assert unwrap(secret["stringData"]) == {"token": "generated-token"}
    (receiver,) = gmocks.by_kind("Receiver")
    assert receiver == GITHUB_RECEIVER
    assert_crd_valid(receiver)
    (hook,) = gmocks.by_type("pulumi-python:dynamic/github:RepositoryWebhook")
    path = webhook_path("generated-token", "github-receiver", "flux-system")
    # A digest of the token, not the token: the URL is a plain value (GitHub shows it anyway).
    assert hook.inputs["url"] == f"https://flux-webhook.example.com{path}"
    assert unwrap(hook.inputs["secret"]) == "generated-token"
    assert unwrap(hook.inputs["token"]) == TOKEN
    assert hook.inputs["events"] == ["push"]
    assert hook.inputs["adopt_prefix"] == "https://flux-webhook.example.com/hook/"
    assert (hook.inputs["owner"], hook.inputs["repository"]) == ("octocat", "fleet")


def test_receiver_with_given_token_and_enterprise(gmocks: GithubMocks) -> None:
    args = GithubReceiverArgs(
        source=fleet("https://ghe.example.com/team/fleet"),
        token=TOKEN,
        webhook_token="from-config",
        url="https://hooks.example.com",
        name="fleet-push",
        secret_name="fleet-push-token",
        base_url="https://ghe.example.com/api/v3",
    )
    synth.run(lambda: GithubReceiver("push", args))

    assert gmocks.by_type("pulumi-python:dynamic/github:WebhookToken") == []
    (secret,) = gmocks.by_kind("Secret")
    assert unwrap(secret["stringData"]) == {"token": "from-config"}
    (hook,) = gmocks.by_type("pulumi-python:dynamic/github:RepositoryWebhook")
    assert hook.inputs["base_url"] == "https://ghe.example.com/api/v3"
    path = webhook_path("from-config", "fleet-push", "flux-system")
    assert hook.inputs["url"] == f"https://hooks.example.com{path}"


def test_github_config_section() -> None:
    cfg = GithubConfig.model_validate(
        {
            "owner": "octocat",
            "baseUrl": "https://ghe.example.com/api/v3/",
            "deployKey": {"title": "flux-kubestaging", "readOnly": False},
            "receiver": {"url": "https://flux-webhook.example.com"},
        }
    )
    src = fleet()
    key = cfg.deploy_key_args(src)
    assert key is not None
    assert (key.owner, key.base_url, key.title, key.read_only) == (
        "octocat",
        "https://ghe.example.com/api/v3",
        "flux-kubestaging",
        False,
    )
    assert key.source is src and (key.token, key.identity) == (None, None)
    receiver = cfg.receiver_args(src)
    assert receiver is not None and receiver.owner == "octocat"
    assert (receiver.source, receiver.url) == (src, "https://flux-webhook.example.com")
    assert GithubConfig().receiver_args(src) is None
    assert GithubConfig(manage_deploy_key=False).deploy_key_args(src) is None
    assert GithubConfig(owner="o").deploy_key_args(src) == GithubDeployKeyArgs(
        source=src, owner="o"
    )
    # A nested owner wins over the top-level one.
    nested = GithubConfig(owner="o", deploy_key={"owner": "p", "title": "t"}).deploy_key_args(src)
    assert nested == GithubDeployKeyArgs(source=src, owner="p", title="t")
    with pytest.raises(SpecError, match=r"^GithubConfig: deployKey.readonly: unknown field$"):
        GithubConfig(deploy_key={"readonly": True})
