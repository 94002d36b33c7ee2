"""The real Pulumi program (stacks/) run by the real `pulumi` CLI from e2e/bin, on a copy of the
project in a temp dir, with a `file://` backend and the plugins from e2e/bin (no plugin
downloads: automatic acquisition is off and the project file points at the local binaries);
Python dynamic providers run through a small plugin script written for the venv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .procs import BIN, HarnessError

ROOT = Path(__file__).resolve().parent.parent.parent
"""The project checkout (Pulumi.yaml, stacks/)."""


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> Result:
        if self.returncode != 0:
            raise HarnessError(
                f"`pulumi {' '.join(self.args)}` exited {self.returncode} after "
                f"{self.seconds:.0f}s\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n"
                f"{self.stderr[-4000:]}"
            )
        return self


DYNAMIC_PROVIDER = "pulumi-resource-pulumi-python"
"""The plugin the engine starts for Python dynamic providers (the SDK's GitHub resources and
generated webhook token): the language host's companion, which e2e/build.sh does not build."""


def dynamic_provider_plugin(folder: Path, venv: Path) -> Path:
    """`folder` holding a `pulumi-resource-pulumi-python` that serves dynamic providers with the
    venv's Python (`python -m pulumi.dynamic`, as the Pulumi SDK expects)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / DYNAMIC_PROVIDER
    python = venv / "bin" / "python"
    script.write_text(f'#!/bin/sh\nexec "{python}" -u -m pulumi.dynamic "$@"\n')
    script.chmod(0o755)
    return folder


class PulumiProject:
    """A copy of the project under `work/project`, its state under `work/state`."""

    def __init__(
        self,
        work: Path,
        *,
        kubeconfig: Path,
        env: dict[str, str] | None = None,
        bin_dir: Path = BIN,
        root: Path = ROOT,
        venv: Path | None = None,
    ) -> None:
        self.work = work
        self.dir = work / "project"
        self.logs = work / "logs"
        self.bin_dir = bin_dir
        self.logs.mkdir(parents=True, exist_ok=True)
        venv = venv or Path(sys.prefix)
        state = work / "state"
        state.mkdir(parents=True, exist_ok=True)
        home = work / "pulumi-home"
        home.mkdir(parents=True, exist_ok=True)

        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            root / "stacks",
            self.dir / "stacks",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        project = yaml.safe_load((root / "Pulumi.yaml").read_text())
        runtime = project.get("runtime")
        if isinstance(runtime, str):
            runtime = {"name": runtime}
        options = dict(runtime.get("options") or {})
        options["virtualenv"] = str(venv)  # the checkout's venv, not one beside the copy
        runtime["options"] = options
        project["runtime"] = runtime
        # Use the binaries of e2e/bin, whatever versions the SDKs ask for.
        project["plugins"] = {
            "providers": [{"name": "kubernetes", "path": str(bin_dir)}],
            "languages": [{"name": "python", "path": str(bin_dir)}],
        }
        (self.dir / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))

        plugins = dynamic_provider_plugin(work / "plugins", venv)
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join(
                [str(bin_dir), str(plugins), str(venv / "bin"), os.environ["PATH"]]
            ),
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": "e2e",
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "1",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "1",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            "PULUMI_COPILOT_DISABLED": "1",
            "KUBECONFIG": str(kubeconfig),
            "NO_COLOR": "1",
            **(env or {}),
        }
        for key in ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG", "PULUMI_STACK"):
            self.env.pop(key, None)
        self._count = 0

    def write_stack_file(self, stack: str, doc: dict[str, Any]) -> Path:
        path = self.dir / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def run(
        self,
        *args: str,
        timeout: float = 300,
        check: bool = True,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        """`pulumi ARGS` in the project copy; output also goes to logs/pulumi-N-<cmd>.log.
        `stdin` is fed to the command (secret values: never put them in ARGS, which are
        logged); `env` is added to the environment of this run."""
        self._count += 1
        log = self.logs / f"pulumi-{self._count:02d}-{args[0]}.log"
        argv = [str(self.bin_dir / "pulumi"), *args, "--non-interactive", "--color=never"]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                cwd=self.dir,
                env={**self.env, **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
                input=stdin if stdin is not None else "",
            )
            result = Result(list(args), proc.returncode, proc.stdout, proc.stderr, 0.0)
        except subprocess.TimeoutExpired as err:
            out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            errs = err.stderr.decode() if isinstance(err.stderr, bytes) else (err.stderr or "")
            result = Result(list(args), -9, out, errs + f"\n[timed out after {timeout}s]", 0.0)
        result.seconds = time.monotonic() - start
        log.write_text(
            f"$ pulumi {' '.join(args)}  # exit {result.returncode} in {result.seconds:.1f}s\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
        )
        return result.check() if check else result

    def export(self, stack: str) -> dict[str, Any]:
        return dict(json.loads(self.run("stack", "export", "--stack", stack).stdout))
