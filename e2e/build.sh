#!/usr/bin/env bash
# Build the e2e toolchain (etcd, kube-apiserver, kube-controller-manager, Flux source-/kustomize-
# controller, pulumi CLI, Python language host, Kubernetes provider plugin)
# from Go modules into e2e/bin. See e2e/README.md.
#
# Usage: e2e/build.sh [TOOL...]        build the missing/outdated tools (default: all)
#        FORCE=1 e2e/build.sh [TOOL...]  rebuild even if up to date
#        e2e/build.sh --list             list tool names
#
# Idempotent: a tool is skipped when its binary exists and its go.mod/go.sum
# (and this script) are unchanged since it was built (stamp in bin/.stamps).
# Builds run one at a time, at nice 19 with `go build -p $GITOPS_E2E_BUILD_JOBS`
# (default 1), so a shared 2-core machine stays usable. GOCACHE/GOMODCACHE keep
# their defaults unless set, and each built binary is also kept in
# $GITOPS_E2E_CACHE (default ~/.cache/gitops-sdk/e2e-bin) under its input hash,
# so a fresh checkout on the same machine reuses it.
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TC="$E2E_DIR/toolchain"
BIN="$E2E_DIR/bin"
STAMPS="$BIN/.stamps"
mkdir -p "$BIN" "$STAMPS"

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
JOBS="${GITOPS_E2E_BUILD_JOBS:-1}"
GO_BUILD=(nice -n 19 go build -p "$JOBS" -trimpath)
# Built binaries are also kept per input hash outside the checkout, so a fresh clone on the
# same machine (CI) copies them instead of compiling for most of an hour.
CACHE_BIN="${GITOPS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-sdk/e2e-bin}"

# kube-controller-manager builds on request (`e2e/build.sh kube-controller-manager`); the
# harness does the little it would do (finalizers, quota status) itself.
ALL_TOOLS=(pulumi-language-python etcd source-controller kustomize-controller kube-apiserver pulumi pulumi-resource-kubernetes)

log() { printf '[e2e/build] %s\n' "$*" >&2; }

# module dir, binaries and main package of each tool
tool_module() {
  case "$1" in
    pulumi-resource-kubernetes) echo pulumi-kubernetes ;;
    kube-apiserver|kube-controller-manager) echo kubernetes ;;
    *) echo "$1" ;;
  esac
}

mod_dir_of() { # MODULE_DIR MODULE_PATH -> directory of that dependency in the module cache
  (cd "$1" && go list -m -f '{{.Dir}}' "$2")
}
mod_version_of() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

stamp_of() { # tool -> content hash of its inputs
  local m="$TC/$(tool_module "$1")"
  cat "$m/go.mod" "$m/go.sum" "${BASH_SOURCE[0]}" $(find "$m" -name '*.go' | sort) 2>/dev/null | sha256sum | cut -c1-16
}

build_tool() {
  local t="$1" m ld ver dir
  m="$TC/$(tool_module "$t")"
  case "$t" in
    etcd)
      (cd "$m" && "${GO_BUILD[@]}" -ldflags='-s -w' -o "$BIN/etcd" go.etcd.io/etcd/server/v3) ;;
    source-controller)
      (cd "$m" && "${GO_BUILD[@]}" -ldflags='-s -w' -o "$BIN/source-controller" github.com/fluxcd/source-controller) ;;
    kustomize-controller)
      (cd "$m" && "${GO_BUILD[@]}" -ldflags='-s -w' -o "$BIN/kustomize-controller" github.com/fluxcd/kustomize-controller) ;;
    kube-apiserver|kube-controller-manager)
      # --version reads k8s.io/component-base/version, set by
      # upstream's hack/lib/version.sh through -X; do the same.
      ver="$(mod_version_of "$m" k8s.io/kubernetes)" || return 1
      ld="-s -w"
      for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld+=" -X $p.gitVersion=$ver -X $p.gitMajor=$(echo "${ver#v}" | cut -d. -f1) -X $p.gitMinor=$(echo "$ver" | cut -d. -f2)"
        ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
      done
      (cd "$m" && "${GO_BUILD[@]}" -ldflags="$ld" -o "$BIN/$t" "k8s.io/kubernetes/cmd/$t") ;;
    pulumi)
      ver="$(mod_version_of "$m" github.com/pulumi/pulumi/pkg/v3)" || return 1
      (cd "$m" && "${GO_BUILD[@]}" \
        -ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
        -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) ;;
    pulumi-language-python)
      ver="$(mod_version_of "$m" github.com/pulumi/pulumi/sdk/v3)" || return 1
      (cd "$m" && "${GO_BUILD[@]}" \
        -ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$ver" \
        -o "$BIN/pulumi-language-python" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python) || return 1
      # The host runs programs through the pulumi-language-python-exec shim
      # found next to it. Use the shim of the sdk/v3 that matches the CLI (its
      # arguments are a superset of what this host passes; it talks to the
      # current Python SDK), falling back to the host's own.
      dir="$(mod_dir_of "$TC/pulumi" github.com/pulumi/pulumi/sdk/v3 2>/dev/null)" || dir=""
      [ -n "$dir" ] && [ -f "$dir/python/cmd/pulumi-language-python-exec" ] \
        || dir="$(mod_dir_of "$m" github.com/pulumi/pulumi/sdk/v3)" || return 1
      install -m 0755 "$dir/python/cmd/pulumi-language-python-exec" "$BIN/pulumi-language-python-exec" ;;
    pulumi-resource-kubernetes)
      dir="$(mod_dir_of "$m" github.com/pulumi/pulumi-kubernetes/provider/v4)" || return 1
      ver="${PULUMI_K8S_PROVIDER_VERSION:-$(mod_version_of "$m" github.com/pulumi/pulumi-kubernetes/provider/v4)}"
      ver="${ver#v}"
      local cmd="$m/cmd/pulumi-resource-kubernetes"
      install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/schema.json" "$cmd/schema.json" || return 1
      install -m 0644 "$dir/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$cmd/terraform-mapping.json" || return 1
      # upstream's own generator: stamps the version into the schema and
      # writes schema-embed.json / terraform-mapping-embed.json
      (cd "$cmd" && VERSION="$ver" nice -n 19 go run -p 1 "$dir/cmd/pulumi-resource-kubernetes/generate.go") || return 1
      (cd "$m" && "${GO_BUILD[@]}" \
        -ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$ver" \
        -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes) ;;
    *) log "unknown tool: $t"; return 2 ;;
  esac
}

outputs_of() { # tool -> the files it installs into bin/
  case "$1" in
    pulumi-language-python) echo "pulumi-language-python pulumi-language-python-exec" ;;
    *) echo "$1" ;;
  esac
}

from_cache() { # tool stamp -> 0 when bin/ was filled from the machine-level cache
  local dir="$CACHE_BIN/$2-$1" f
  [ -d "$dir" ] || return 1
  for f in $(outputs_of "$1"); do [ -x "$dir/$f" ] || return 1; done
  for f in $(outputs_of "$1"); do install -m 0755 "$dir/$f" "$BIN/$f" || return 1; done
}

to_cache() { # tool stamp: keep what was just built for the next checkout
  local dir="$CACHE_BIN/$2-$1" f
  mkdir -p "$dir" && for f in $(outputs_of "$1"); do install -m 0755 "$BIN/$f" "$dir/$f"; done
}

check_tool() { # run the binary's --version/--help; print one line of its output
  local t="$1" out rc
  case "$t" in
    etcd)                       out="$("$BIN/etcd" --version 2>&1)"; rc=$? ;;
    kube-apiserver|kube-controller-manager)
                                out="$("$BIN/$t" --version 2>&1)"; rc=$? ;;
    source-controller)          out="$("$BIN/source-controller" --help 2>&1)"; rc=$?; grep -q -- '--storage-path' <<<"$out" || rc=1 ;;
    kustomize-controller)       out="$("$BIN/kustomize-controller" --help 2>&1)"; rc=$?; grep -q -- '--concurrent' <<<"$out" || rc=1 ;;
    pulumi)                     out="$(PULUMI_SKIP_UPDATE_CHECK=1 "$BIN/pulumi" version 2>&1)"; rc=$? ;;
    pulumi-language-python)     out="$("$BIN/pulumi-language-python" -help 2>&1)"; rc=$?; grep -q -- '-virtualenv' <<<"$out" || rc=1
                                [ -x "$BIN/pulumi-language-python-exec" ] || rc=1 ;;
    pulumi-resource-kubernetes) # a plugin prints the port of its gRPC server, then serves until killed
                                local tmp pid i; tmp="$(mktemp)"
                                "$BIN/pulumi-resource-kubernetes" >"$tmp" 2>&1 & pid=$!
                                for i in $(seq 1 100); do [ -s "$tmp" ] && break; sleep 0.1; done
                                kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
                                out="$(head -n1 "$tmp")"; rm -f "$tmp"
                                [[ "$out" =~ ^[0-9]+$ ]] && rc=0 || rc=1
                                out="serves gRPC on port $out" ;;
  esac
  printf '%s\n' "$out" | grep -v '^\s*$' | head -n1
  return $rc
}

main() {
  local tools=() t s e m stamp
  for a in "$@"; do
    case "$a" in
      --list) printf '%s\n' "${ALL_TOOLS[@]}"; return 0 ;;
      -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) tools+=("$a") ;;
    esac
  done
  [ ${#tools[@]} -eq 0 ] && tools=("${ALL_TOOLS[@]}")
  command -v go >/dev/null || { log "go not found on PATH"; return 1; }
  log "$(go version); GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE)"

  local failed=() summary=()
  for t in "${tools[@]}"; do
    m="$TC/$(tool_module "$t")"
    [ -f "$m/go.mod" ] || { log "$t: unknown tool (no $m/go.mod)"; failed+=("$t"); continue; }
    stamp="$(stamp_of "$t")"
    if [ -z "${FORCE:-}" ] && [ -x "$BIN/$t" ] && [ "$(cat "$STAMPS/$t" 2>/dev/null)" = "$stamp" ]; then
      summary+=("$(printf '%-28s %-8s %6s  %s' "$t" cached - "$(check_tool "$t" 2>&1)")")
      continue
    fi
    if [ -z "${FORCE:-}" ] && from_cache "$t" "$stamp" && out="$(check_tool "$t")"; then
      echo "$stamp" > "$STAMPS/$t"
      summary+=("$(printf '%-28s %-8s %6s  %s' "$t" from-cache - "$out")")
      continue
    fi
    log "$t: building"
    s=$(date +%s)
    if build_tool "$t"; then
      e=$(( $(date +%s) - s ))
      if out="$(check_tool "$t")"; then
        echo "$stamp" > "$STAMPS/$t"
        to_cache "$t" "$stamp"
        log "$t: built in ${e}s: $out"
        summary+=("$(printf '%-28s %-8s %5ss  %s' "$t" built "$e" "$out")")
      else
        log "$t: built in ${e}s but its --version/--help check failed: $out"
        rm -f "$STAMPS/$t"; failed+=("$t")
        summary+=("$(printf '%-28s %-8s %5ss  %s' "$t" BADCHECK "$e" "$out")")
      fi
    else
      e=$(( $(date +%s) - s ))
      log "$t: build FAILED after ${e}s"
      rm -f "$STAMPS/$t"; failed+=("$t")
      summary+=("$(printf '%-28s %-8s %5ss' "$t" FAILED "$e")")
    fi
  done

  printf '\n%-28s %-8s %6s  %s\n' TOOL STATUS TIME CHECK
  printf '%s\n' "${summary[@]}"
  if [ ${#failed[@]} -gt 0 ]; then
    log "failed: ${failed[*]}"
    return 1
  fi
}

main "$@"
