"""Commit -> applied, with the stack's Receiver (a signed push webhook) vs polling at the
GitRepository's interval, on the e2e control plane: etcd + kube-apiserver, the real program
deployed by the real `pulumi up`, the Flux controllers its Deployments describe run as local
processes, and a local Git server that calls the Receiver on push (see e2e/README.md).

Each round pushes one commit that changes a ConfigMap, once with the webhook delivered and once
without (the source finds it at its next poll), and times from the end of `git push` to the new
value in the API server. Prints each round, the median of each side and a last line
`ratio <webhook/polling>`; the goal is a webhook median of at most 5 s.

Needs e2e/bin (`e2e/build.sh`) and the Flux install manifest in ../shared/flux-install.
Run: `.venv/bin/python benchmarks/convergence.py [--rounds R] [--interval 1m] [--keep]`.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from gitops_e2e import homelab
from gitops_e2e.controlplane import start_control_plane
from gitops_e2e.flux import start_flux
from gitops_e2e.gitserver import GitHttpServer, git, start_git_server
from gitops_e2e.kube import Kube, is_ready
from gitops_e2e.procs import missing_binaries, wait_until
from gitops_e2e.pulumi import PulumiProject
from gitops_e2e.sink import EventSink

TOOLS = [
    "etcd",
    "kube-apiserver",
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "pulumi",
    "pulumi-language-python",
    "pulumi-resource-kubernetes",
]
NS = "flux-system"
SECRET_VALUE = "benchmark-db-password"
GOAL = 5.0
"""Seconds: the webhook median to stay under."""


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number) * units[char]
            number = ""
    return total


@contextmanager
def homelab_running(work: Path, interval: str) -> Iterator[tuple[Kube, GitHttpServer, str]]:
    """The e2e homelab with the GitRepository polling every `interval`; yields the API client,
    the Git server (webhook registered) and the repository's push URL."""
    with ExitStack() as stack:
        plane = start_control_plane(work)
        stack.callback(plane.stop)
        server = start_git_server(work)
        stack.callback(server.stop)
        sink = EventSink().start()
        stack.callback(sink.stop)
        age = homelab.new_age_key()
        url = server.create_repo("fleet", homelab.seed_repo(work / "seed", age, SECRET_VALUE))
        project = PulumiProject(
            work,
            kubeconfig=plane.kubeconfig,
            env={"GITOPS_FLUX_MANIFEST": str(homelab.FLUX_MANIFEST)},
        )
        doc = homelab.stack_config(url, sink.url, interval=interval)
        started = time.monotonic()
        homelab.deploy(project, doc, age)
        print(f"pulumi up: {time.monotonic() - started:.0f}s", flush=True)
        flux = start_flux(work, plane.kube)
        stack.callback(flux.stop)
        kube = plane.kube
        wait_until(
            "Kustomization apps Ready",
            lambda: is_ready(kube.get("Kustomization", "apps", NS)),
            timeout=180,
            on_timeout=flux.describe,
        )
        wait_until(
            "Receiver Ready",
            lambda: is_ready(kube.get("Receiver", "github-receiver", NS)),
            timeout=60,
        )
        receiver = kube.get("Receiver", "github-receiver", NS) or {}
        secret = kube.get("Secret", "github-webhook-token", NS) or {}
        server.add_webhook(
            flux.receiver_url + receiver["status"]["webhookPath"],
            base64.b64decode(secret["data"]["token"]).decode(),
        )
        yield kube, server, url


def push(url: str, work: Path, value: str) -> None:
    clone = work / f"clone-{value}"
    git("clone", "--quiet", url, str(clone))
    (clone / "apps" / "demo.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: e2e-apps\n"
        f"data:\n  greeting: {value}\n"
    )
    git("commit", "--quiet", "-am", f"benchmark: {value}", cwd=clone)
    git("push", "--quiet", "origin", "main", cwd=clone)
    shutil.rmtree(clone)


def time_to_apply(kube: Kube, value: str, timeout: float) -> float:
    """Seconds until ConfigMap e2e-apps/demo says `value` (polled every 0.1 s)."""
    start = time.monotonic()
    wait_until(
        f"ConfigMap demo = {value}",
        lambda: (c := kube.get("ConfigMap", "demo", "e2e-apps")) and c["data"]["greeting"] == value,
        timeout=timeout,
        interval=0.1,
    )
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="commits per side (default 3)")
    parser.add_argument(
        "--interval", default="1m", help="the GitRepository's polling interval (default 1m)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args()
    if missing := missing_binaries(TOOLS):
        print(f"needs {', '.join(missing)} in e2e/bin (run e2e/build.sh)", file=sys.stderr)
        return 2
    if not homelab.FLUX_MANIFEST.is_file():
        print(f"needs the Flux install manifest at {homelab.FLUX_MANIFEST}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="convergence-"))
    limit = seconds(args.interval) * 2 + 60
    times: dict[str, list[float]] = {"webhook": [], "polling": []}
    try:
        with homelab_running(work, args.interval) as (kube, server, url):
            for i in range(args.rounds):
                for side in ("webhook", "polling"):
                    value = f"{side}-{i}"
                    if side == "webhook":
                        push(url, work, value)
                    else:
                        with server.webhooks_paused():
                            push(url, work, value)
                    took = time_to_apply(kube, value, limit)
                    times[side].append(took)
                    print(f"round {i + 1} {side}: {took:.2f}s", flush=True)
    finally:
        if args.keep:
            print(f"work dir: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    webhook, polling = (statistics.median(times[s]) for s in ("webhook", "polling"))
    print(f"webhook median {webhook:.2f}s (goal <= {GOAL:.0f}s)")
    print(f"polling median {polling:.2f}s (interval {args.interval})")
    print(f"ratio {webhook / polling:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
