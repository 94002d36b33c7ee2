"""What the SDK costs over raw pulumi-kubernetes: 1,000 Flux Kustomizations declared through
the SDK (validated models, references, FluxResource; declared first, then registered, as the
stacks do) vs the same manifests as raw `CustomResource`s, both under Pulumi's mock runtime in
one process.

The two programs run in alternating pairs; each pair gives a ratio, and the median over the
rounds is reported, so load from other processes on the machine hits both sides alike. Prints
both times (median), the spread of the single pairs and a last line `ratio <sdk/raw>` (goal:
<= 1.15).
Run: `.venv/bin/python benchmarks/program_overhead.py [--objects N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from pulumi_kubernetes.apiextensions import CustomResource

from gitops_sdk import GitRepository, Kustomization, register
from gitops_sdk.stack import synth

REPO = GitRepository(
    name="fleet", namespace="flux-system", url="https://github.com/org/fleet", interval="1m"
)


def sdk_program(n: int) -> None:
    # The SDK's way: declare (and so validate) every object first, register after; a bad one
    # fails the program before anything is registered.
    objects = [
        Kustomization(
            name=f"unit-{i}",
            namespace="flux-system",
            interval="10m",
            path=f"./units/{i}",
            prune=True,
            source_ref=REPO,
        )
        for i in range(n)
    ]
    for obj in objects:
        register(obj)


def raw_program(n: int) -> None:
    for i in range(n):
        CustomResource(
            f"kustomization-flux-system-unit-{i}",
            api_version="kustomize.toolkit.fluxcd.io/v1",
            kind="Kustomization",
            metadata={"name": f"unit-{i}", "namespace": "flux-system"},
            spec={
                "interval": "10m",
                "path": f"./units/{i}",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            },
        )


def timed(program: Callable[[int], None], n: int) -> float:
    mocks = synth.RecordingMocks()
    synth.start(mocks, stack="bench", config={})
    gc.collect()
    start = time.process_time()
    synth.run(lambda: program(n))
    elapsed = time.process_time() - start
    assert len([r for r in mocks.resources if r.custom]) == n
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    timed(raw_program, 50)  # warm up imports and the runtime
    timed(sdk_program, 50)
    raw, sdk, ratios = [], [], []
    for i in range(args.rounds):
        # Alternate which side goes first, so neither always runs on a warmer process.
        first, second = (raw_program, sdk_program) if i % 2 == 0 else (sdk_program, raw_program)
        times = {first: timed(first, args.objects), second: timed(second, args.objects)}
        raw.append(times[raw_program])
        sdk.append(times[sdk_program])
        ratios.append(times[sdk_program] / times[raw_program])
    print(f"raw pulumi-kubernetes: {statistics.median(raw):.3f}s for {args.objects} objects")
    print(f"gitops_sdk:            {statistics.median(sdk):.3f}s for {args.objects} objects")
    # The spread comes mostly from when CPython's full garbage collections happen to fall.
    print(f"pair ratios: {min(ratios):.3f} .. {max(ratios):.3f} over {args.rounds} pairs")
    print(f"ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
