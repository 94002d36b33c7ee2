"""Day-2 commands against the live cluster, with the kubeconfig found as the flux CLI finds it
(`--kubeconfig`, else KUBECONFIG, else ~/.kube/config; `--context`, else the current context):

- `gitops status --stack S [--watch] [--timeout 5m]`: every Flux object the stack declares (the
  program rendered offline, as `gitops synth` does) with Ready, reason, message, revision, age;
  exit 1 when one is not Ready or missing. `--watch` follows changes until all are Ready.
- `gitops reconcile KIND/NAME [--with-source]`: annotate `reconcile.fluxcd.io/requestedAt` (the
  source first), then wait for `status.lastHandledReconcileAt` to match and report the result.
- `gitops suspend|resume KIND/NAME`: set or clear `spec.suspend` (resume also reconciles).

Exit codes: 0 done and Ready, 1 not Ready / failed / timed out, 2 bad input or no cluster
(one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitops_sdk.core.fields import duration_ns
from gitops_sdk.services.cluster import Cluster
from gitops_sdk.services.flux_status import (
    REQUESTED_AT,
    STATIC_KINDS,
    ClusterError,
    FluxKind,
    ObjectStatus,
    flux_kind,
    is_flux_document,
    now,
    object_status,
    parse_ref,
    reconcile_outcome,
    requested_at,
    source_of,
    status_table,
)

__all__ = [
    "SUSPEND_WARNING",
    "add_commands",
    "cmd_reconcile",
    "cmd_resume",
    "cmd_status",
    "cmd_suspend",
    "declared_objects",
    "parse_timeout",
]

Target = tuple[FluxKind, str, str]
"""(kind, namespace, name) of an object on the cluster."""

SUSPEND_WARNING = (
    "warning: `pulumi up` may undo this. Pulumi applies only the fields the stack declares: "
    "no stack config declares spec.suspend today, so {ref} stays suspended. Where a stack "
    "declares it, a plain `pulumi up` still leaves it (no diff without reading the cluster), "
    "but `pulumi up --refresh` puts the declared value back (the SDK's objects carry patch "
    "force). Run `gitops resume {kind}/{name}` when done."
)
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")


def parse_timeout(text: str) -> float:
    """Seconds of `90s`, `5m`, `1h30m` or a bare number of seconds (argparse type)."""
    value = text.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        seconds = float(value)
    elif _DURATION.match(value):
        seconds = duration_ns(value) / 1e9
    else:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (expected e.g. '90s', '5m' or '1h30m')"
        )
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than zero")
    return seconds


def _shown(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 120 else f"{seconds / 60:g}m"


def declared_objects(docs: list[dict[str, Any]], default_namespace: str) -> list[Target]:
    """The Flux objects among rendered manifests, once each, in the given order."""
    found: dict[tuple[str, str, str], Target] = {}
    for doc in docs:
        if not is_flux_document(doc):
            continue
        meta = doc.get("metadata") or {}
        kind = flux_kind(str(doc["kind"])).at(str(doc["apiVersion"]))
        ns, name = str(meta.get("namespace") or default_namespace), str(meta.get("name"))
        found.setdefault((kind.kind, ns, name), (kind, ns, name))
    return list(found.values())


def _on_cluster(
    body: Callable[[argparse.Namespace, Cluster], int],
) -> Callable[[argparse.Namespace], int]:
    """A command against the cluster: connected first (a bad kubeconfig fails before anything
    else runs), closed after; Ctrl-C while it waits exits with 130."""

    def command(args: argparse.Namespace) -> int:
        if getattr(args, "ref", None) is not None:
            parse_ref(args.ref)  # a bad KIND/NAME is said before any connection is tried
        cluster = Cluster.connect(args.kubeconfig, args.context)
        try:
            return body(args, cluster)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            cluster.close()

    command.__doc__ = body.__doc__
    return command


def _row(target: Target, obj: dict[str, Any] | None) -> ObjectStatus:
    kind, ns, name = target
    return object_status(kind.kind, ns, name, obj, now())


def _line(row: ObjectStatus) -> str:
    stamp = time.strftime("%H:%M:%S")
    parts = [stamp, row.ref, f"Ready={row.ready}", row.reason, row.revision, row.message]
    if row.suspended:
        parts.insert(3, "suspended")
    return "  ".join(p for p in parts if p)


def _not_ready(rows: list[ObjectStatus]) -> str:
    bad = [r for r in rows if not r.ok]
    names = ", ".join(f"{r.ref} ({r.ready})" for r in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return f"{len(bad)} of {len(rows)} Flux objects not Ready: {names}{more}"


@_on_cluster
def cmd_status(args: argparse.Namespace, cluster: Cluster) -> int:
    from gitops_sdk.stack import synth

    project = Path(getattr(args, "project_dir", None) or Path.cwd())
    docs = synth.run_stack_program(project, args.stack).kubernetes_objects()
    targets = declared_objects(docs, args.namespace)
    if not targets:
        raise ClusterError(f"stack {args.stack}: declares no Flux objects (nothing to show)")
    rows = {(k.kind, ns, n): _row((k, ns, n), cluster.get(k, n, ns)) for k, ns, n in targets}
    print(status_table(list(rows.values())))
    if all(r.ok for r in rows.values()):
        print(f"all {len(rows)} Flux objects Ready", file=sys.stderr)
        return 0
    if not args.watch:
        print(_not_ready(list(rows.values())), file=sys.stderr)
        return 1
    return _follow(cluster, targets, rows, args.timeout)


def _follow(
    cluster: Cluster,
    targets: list[Target],
    rows: dict[tuple[str, str, str], ObjectStatus],
    timeout: float,
) -> int:
    """Print each change of a row until every one is Ready or `timeout` seconds pass."""
    print(f"watching {len(rows)} Flux objects (up to {_shown(timeout)}) ...", file=sys.stderr)

    def same(a: ObjectStatus, b: ObjectStatus) -> bool:
        return (a.ready, a.reason, a.message, a.revision, a.suspended) == (
            b.ready, b.reason, b.message, b.revision, b.suspended,
        )  # fmt: skip

    for event in cluster.watch(targets, time.monotonic() + timeout):
        key = (event.kind.kind, event.namespace, event.name)
        row = _row((event.kind, event.namespace, event.name), event.obj)
        if not same(rows[key], row):
            print(_line(row), flush=True)
        rows[key] = row
        if all(r.ok for r in rows.values()):
            print(f"all {len(rows)} Flux objects Ready", file=sys.stderr)
            return 0
    print(status_table(list(rows.values())))
    print(f"timed out after {_shown(timeout)}: {_not_ready(list(rows.values()))}", file=sys.stderr)
    return 1


def _request(cluster: Cluster, target: Target, extra: dict[str, Any] | None = None) -> str:
    kind, ns, name = target
    token = requested_at(now())
    patch: dict[str, Any] = {"metadata": {"annotations": {REQUESTED_AT: token}}, **(extra or {})}
    cluster.merge_patch(kind, name, ns, patch)
    return token


def _await(cluster: Cluster, target: Target, token: str, deadline: float, timeout: float) -> bool:
    """Wait for the controller to handle request `token`; print the result. False when it
    failed or did not come in time (then the reason is on stderr)."""
    kind, ns, name = target
    ref = f"{kind.kind} {ns}/{name}"
    print(f"waiting for {ref} to be reconciled", file=sys.stderr)
    last: dict[str, Any] | None = None
    for event in cluster.watch([target], deadline):
        last = event.obj
        outcome = reconcile_outcome(event.obj, token)
        if outcome is None:
            continue
        row = _row(target, event.obj)
        if outcome == "ready":
            print(f"{ref} reconciled: Ready, revision {row.revision or '-'}")
            return True
        print(f"{ref} reconcile failed: {row.reason or row.ready}: {row.message or '-'}")
        return False
    handled = ((last or {}).get("status") or {}).get("lastHandledReconcileAt")
    print(
        f"{ref}: not reconciled within {_shown(timeout)} (status.lastHandledReconcileAt is "
        f"{handled!r}, requested {token!r}); is its controller running?",
        file=sys.stderr,
    )
    return False


def _check_reconcilable(target: Target, obj: dict[str, Any], action: str) -> None:
    kind, ns, name = target
    if kind.kind in STATIC_KINDS:
        raise ClusterError(
            f"{kind.kind} {ns}/{name}: no controller reconciles a {kind.kind} (it has no "
            f"status since {kind.api_version}); nothing to {action}"
        )
    if (obj.get("spec") or {}).get("suspend"):
        raise ClusterError(
            f"{kind.kind} {ns}/{name} is suspended; run `gitops resume {kind.kind}/{name}` instead"
        )


@_on_cluster
def cmd_reconcile(args: argparse.Namespace, cluster: Cluster) -> int:
    kind, name = parse_ref(args.ref)
    target = (kind, args.namespace, name)
    obj = cluster.require(kind, name, args.namespace)
    _check_reconcilable(target, obj, "reconcile")
    deadline = time.monotonic() + args.timeout
    if args.with_source:
        source = source_of(kind, obj)
        if source is None:
            raise ClusterError(
                f"{kind.kind} {args.namespace}/{name}: --with-source: it has no source "
                "(sourceRef) to reconcile"
            )
        skind, sns, sname = source
        sobj = cluster.require(skind, sname, sns)
        _check_reconcilable(source, sobj, "reconcile")
        print(f"reconciling source {skind.kind} {sns}/{sname}", file=sys.stderr)
        token = _request(cluster, source)
        if not _await(cluster, source, token, deadline, args.timeout):
            return 1
    print(f"reconciling {kind.kind} {args.namespace}/{name}", file=sys.stderr)
    token = _request(cluster, target)
    return 0 if _await(cluster, target, token, deadline, args.timeout) else 1


@_on_cluster
def cmd_suspend(args: argparse.Namespace, cluster: Cluster) -> int:
    kind, name = parse_ref(args.ref)
    obj = cluster.require(kind, name, args.namespace)
    ref = f"{kind.kind} {args.namespace}/{name}"
    if (obj.get("spec") or {}).get("suspend"):
        print(f"{ref} is already suspended")
    else:
        cluster.merge_patch(kind, name, args.namespace, {"spec": {"suspend": True}})
        print(f"{ref} suspended")
    print(SUSPEND_WARNING.format(ref=ref, kind=kind.kind, name=name), file=sys.stderr)
    return 0


@_on_cluster
def cmd_resume(args: argparse.Namespace, cluster: Cluster) -> int:
    kind, name = parse_ref(args.ref)
    target = (kind, args.namespace, name)
    obj = cluster.require(kind, name, args.namespace)
    ref = f"{kind.kind} {args.namespace}/{name}"
    # As flux resume: the field is removed (not set false), so no field manager holds it,
    # and a reconcile is requested at once.
    token = _request(cluster, target, {"spec": {"suspend": None}})
    was = "resumed" if (obj.get("spec") or {}).get("suspend") else "was not suspended"
    print(f"{ref} {was}")
    if kind.kind in STATIC_KINDS or args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    return 0 if _await(cluster, target, token, deadline, args.timeout) else 1


def _cluster_flags(p: argparse.ArgumentParser, timeout: str) -> None:
    p.add_argument(
        "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, else ~/.kube/config)"
    )
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument(
        "-n", "--namespace", default="flux-system", help="namespace (default: flux-system)"
    )
    p.add_argument(
        "--timeout",
        type=parse_timeout,
        default=parse_timeout(timeout),
        help=f"how long to wait, e.g. 90s, 5m (default: {timeout})",
    )


def add_commands(subparsers: Any) -> None:
    """Add `status`, `reconcile`, `suspend` and `resume` to the `gitops` subcommands."""
    s = subparsers.add_parser(
        "status", help="Ready, reason, revision and age of every Flux object the stack declares"
    )
    s.add_argument("--stack", required=True, help="stack name, e.g. staging")
    s.add_argument(
        "--watch", action="store_true", help="follow changes until all are Ready (or --timeout)"
    )
    _cluster_flags(s, "5m")
    s.set_defaults(func=cmd_status)

    r = subparsers.add_parser(
        "reconcile", help="ask Flux to reconcile KIND/NAME now and wait for the result"
    )
    r.add_argument("ref", metavar="KIND/NAME", help="e.g. Kustomization/apps, ks/apps, hr/podinfo")
    r.add_argument(
        "--with-source", action="store_true", help="reconcile its source first (as flux does)"
    )
    _cluster_flags(r, "5m")
    r.set_defaults(func=cmd_reconcile)

    for name, func, text in (
        ("suspend", cmd_suspend, "stop Flux reconciling KIND/NAME (sets spec.suspend)"),
        ("resume", cmd_resume, "let Flux reconcile KIND/NAME again, and wait for it"),
    ):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("ref", metavar="KIND/NAME", help="e.g. Kustomization/apps, ks/apps")
        _cluster_flags(p, "5m")
        if name == "resume":
            p.add_argument("--no-wait", action="store_true", help="do not wait for the reconcile")
        p.set_defaults(func=func)
