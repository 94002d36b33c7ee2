#!/usr/bin/env bash
# Build the e2e toolchain (etcd, kube-apiserver, kube-controller-manager, the Flux controllers,
# pulumi CLI, Python language host, Kubernetes provider plugin) from Go modules into e2e/bin.
# See e2e/README.md.
#
# Usage: e2e/build.sh [TOOL...]        build the missing/outdated tools (default: all, and
#                                      chart-crds: the CRDs of the e2e stand-in charts)
#        FORCE=1 e2e/build.sh [TOOL...]  rebuild even if up to date
#        e2e/build.sh --list             list tool names
#
# Idempotent: a tool is skipped when its binary exists and its inputs (go.mod/go.sum, .go
# files, this script) are unchanged since it was built (stamp in bin/.stamps). Works from an
# empty module cache: every module whose files are read is downloaded first, checked.
# GITOPS_E2E_BUILD_JOBS=N (default 1) is `go build -p N`; with N >= 2 two lanes of tools that
# share no libraries also build at the same time (GITOPS_E2E_LANES overrides). Builds run at
# nice 19. GOCACHE/GOMODCACHE keep their defaults unless set, and each built binary is also kept
# in $GITOPS_E2E_CACHE (default ~/.cache/gitops-sdk/e2e-bin) under its input hash, so a fresh
# checkout on the same machine reuses it.
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
LANES="${GITOPS_E2E_LANES:-$([ "$JOBS" -ge 2 ] && echo 2 || echo 1)}"
GO_BUILD=(nice -n 19 go build -p "$JOBS" -trimpath)
# Built binaries are also kept per input hash outside the checkout, so a fresh clone on the
# same machine (CI) copies them instead of compiling for ~40 minutes.
CACHE_BIN="${GITOPS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-sdk/e2e-bin}"

# kube-controller-manager builds on request (`e2e/build.sh kube-controller-manager`); the
# harness does the little it would do (finalizers, quota status) itself.
ALL_TOOLS=(pulumi-language-python etcd source-controller kustomize-controller helm-controller
  notification-controller image-reflector-controller image-automation-controller
  kube-apiserver pulumi pulumi-resource-kubernetes)
# Tools that share library versions build one after another into the one GOCACHE (a package
# compiled for the first is reused by the next); lanes share little and run side by side.
# Longest lane first.
LANE_ORDER=(flux pulumi kubernetes)
lane_of() {
  case "$1" in
    *-controller) echo flux ;;
    pulumi*) echo pulumi ;;
    *) echo kubernetes ;;
  esac
}

exec 3>&2
log() { printf '[e2e/build] %s\n' "$*" >&3; }

# module dir, binaries and main package of each tool
tool_module() {
  case "$1" in
    pulumi-resource-kubernetes) echo pulumi-kubernetes ;;
    kube-apiserver|kube-controller-manager) echo kubernetes ;;
    *) echo "$1" ;;
  esac
}
main_pkg_of() {
  case "$1" in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    *-controller) echo "github.com/fluxcd/$1" ;;
    kube-apiserver|kube-controller-manager) echo "k8s.io/kubernetes/cmd/$1" ;;
    pulumi) echo github.com/pulumi/pulumi/pkg/v3/cmd/pulumi ;;
    pulumi-language-python) echo github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python ;;
    pulumi-resource-kubernetes) echo ./cmd/pulumi-resource-kubernetes ;;
  esac
}

mod_dir_of() { # MODULE_DIR MODULE_PATH -> directory of that dependency in the module cache
  # `go list -m` prints an empty Dir for a module not downloaded yet: download it first, and
  # fail on an empty or missing directory.
  local dir
  (cd "$1" && go mod download "$2") || { log "go mod download $2 (in $1) failed"; return 1; }
  dir="$(cd "$1" && go list -m -f '{{.Dir}}' "$2")" || return 1
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    log "no module directory for $2 (in $1): '$dir'"; return 1
  fi
  echo "$dir"
}
mod_version_of() {
  (cd "$1" && go list -m -f '{{.Version}}' "$2")
}

stamp_of() { # tool -> content hash of its inputs
  local m="$TC/$(tool_module "$1")" extra=()
  # the exec shim comes from the CLI's sdk/v3
  [ "$1" = pulumi-language-python ] && extra=("$TC/pulumi/go.mod")
  cat "$m/go.mod" "$m/go.sum" "${extra[@]}" "${BASH_SOURCE[0]}" $(find "$m" -name '*.go' | sort) 2>/dev/null | sha256sum | cut -c1-16
}

fetch_tool() { # download the modules the tool's main package needs (no compiling)
  local m="$TC/$(tool_module "$1")" errs
  # -e reports a package's errors instead of stopping; the provider's embed files are
  # generated later, so that one error is expected.
  errs="$(cd "$m" && nice -n 19 go list -e -deps -f '{{if .Error}}{{.ImportPath}}: {{.Error}}{{end}}' \
    "$(main_pkg_of "$1")")" || return 1
  errs="$(grep -v 'pattern [a-z-]*-embed.json: no matching files' <<<"$errs" | grep .)" || return 0
  printf '%s\n' "$errs"; return 1
}

build_tool() {
  local t="$1" m ld ver dir
  m="$TC/$(tool_module "$t")"
  case "$t" in
    etcd|*-controller) # the Flux controllers, etcd
      (cd "$m" && "${GO_BUILD[@]}" -ldflags='-s -w' -o "$BIN/$t" "$(main_pkg_of "$t")") ;;
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
      # The host runs programs through the pulumi-language-python-exec shim found next to
      # it. Take it from the sdk/v3 the CLI is built with, and only from there (its arguments
      # are a superset of what this host passes; it talks to the current Python SDK); the
      # host's own sdk/v3 is far older.
      dir="$(mod_dir_of "$TC/pulumi" github.com/pulumi/pulumi/sdk/v3)" || return 1
      [ -f "$dir/python/cmd/pulumi-language-python-exec" ] \
        || { log "no python/cmd/pulumi-language-python-exec in $dir"; return 1; }
      log "pulumi-language-python-exec from sdk/v3 $(mod_version_of "$TC/pulumi" github.com/pulumi/pulumi/sdk/v3)"
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
      (cd "$cmd" && VERSION="$ver" nice -n 19 go run -p "$JOBS" "$dir/cmd/pulumi-resource-kubernetes/generate.go") || return 1
      (cd "$m" && "${GO_BUILD[@]}" \
        -ldflags="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$ver" \
        -o "$BIN/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes) ;;
    *) log "unknown tool: $t"; return 2 ;;
  esac
}

# The CRDs the stand-in charts of the e2e chart repository carry (toolchain/charts/crds.list):
# each project's module is downloaded into the module cache, the listed files copied to
# bin/crds/<chart>/ with a SOURCE file naming module@version. Skipped when up to date.
CHART_TC="$TC/charts"
chart_crds() {
  local stamp out="$BIN/crds" chart placement module glob dir ver n f
  stamp="$(cat "$CHART_TC/go.mod" "$CHART_TC/go.sum" "$CHART_TC/crds.list" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
  if [ -z "${FORCE:-}" ] && [ "$(cat "$STAMPS/chart-crds" 2>/dev/null)" = "$stamp" ] && [ -d "$out" ]; then
    log "chart-crds: cached ($(find "$out" -name '*.yaml' | wc -l) files)"; return 0
  fi
  rm -rf "$out.new" && mkdir -p "$out.new" || return 1
  while read -r chart placement module glob _; do
    case "$chart" in ''|'#'*) continue ;; esac
    mkdir -p "$out.new/$chart"
    if [ "$module" = - ]; then
      echo "none: not on the Go module proxy (e2e/README.md)" >"$out.new/$chart/SOURCE"; continue
    fi
    dir="$(mod_dir_of "$CHART_TC" "$module")" || return 1
    ver="$(mod_version_of "$CHART_TC" "$module")" || return 1
    n=0
    for f in "$dir"/$glob; do
      [ -f "$f" ] || continue
      install -m 0644 "$f" "$out.new/$chart/$(basename "$f")" && n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { log "chart-crds: no $glob in $module@$ver ($dir)"; return 1; }
    echo "$module@$ver" >"$out.new/$chart/SOURCE"
    log "chart-crds: $chart: $n CRD files from $module@$ver ($placement)"
  done <"$CHART_TC/crds.list"
  rm -rf "$out" && mv "$out.new" "$out" && echo "$stamp" >"$STAMPS/chart-crds"
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
    source-controller)          out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q -- '--storage-path' <<<"$out" || rc=1 ;;
    kustomize-controller)       out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q -- '--concurrent' <<<"$out" || rc=1 ;;
    helm-controller)            out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q 'HelmRelease' <<<"$out" || rc=1 ;;
    notification-controller)    out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q -- '--receiverAddr' <<<"$out" || rc=1 ;;
    image-reflector-controller) out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q -- '--storage-compression-threshold' <<<"$out" || rc=1 ;;
    image-automation-controller) out="$("$BIN/$t" --help 2>&1)"; rc=$?; grep -q -- '--concurrent' <<<"$out" || rc=1 ;;
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

timed() { # FILE CMD... : run CMD, its output prefixed; write "wall cpu" seconds to FILE
  local f="$1" t="$2" w u s; shift 2
  local TIMEFORMAT='%0R %0U %0S'
  { time { "$@" 2>&1 | sed -u "s/^/[$t] /" >&3; }; } 2>"$f.t"
  local rc=$?
  read -r w u s <"$f.t"; echo "$w $(( u + s ))" >"$f"; rm -f "$f.t"
  return $rc
}

do_tool() { # tool -> builds it if needed; writes its summary line to $RES/<tool>
  local t="$1" stamp out rc=0 fw=- bw=- bc=- status
  stamp="$(stamp_of "$t")"
  if [ -z "${FORCE:-}" ] && [ -x "$BIN/$t" ] && [ "$(cat "$STAMPS/$t" 2>/dev/null)" = "$stamp" ]; then
    out="$(check_tool "$t" 2>&1)"; status=cached
  elif [ -z "${FORCE:-}" ] && from_cache "$t" "$stamp" && out="$(check_tool "$t")"; then
    echo "$stamp" > "$STAMPS/$t"; status=from-cache
  else
    log "$t: downloading modules"
    if ! timed "$RES/$t.fetch" "$t" fetch_tool "$t"; then
      status=FAILED; rc=1; out="module download failed"
    else
      read -r fw _ <"$RES/$t.fetch"
      log "$t: building (modules ${fw}s)"
      if ! timed "$RES/$t.build" "$t" build_tool "$t"; then
        status=FAILED; rc=1; out="build failed"
      elif out="$(check_tool "$t")"; then
        echo "$stamp" > "$STAMPS/$t"; to_cache "$t" "$stamp"; status=built
      else
        status=BADCHECK; rc=1
      fi
      [ -f "$RES/$t.build" ] && read -r bw bc <"$RES/$t.build"
    fi
    [ $rc = 0 ] || rm -f "$STAMPS/$t"
    log "$t: $status (modules ${fw}s, build ${bw}s wall, ${bc}s cpu): $out"
  fi
  printf '%-28s %-10s %5s %6s %6s  %s\n' "$t" "$status" "$fw" "$bw" "$bc" "$out" >"$RES/$t"
  return $rc
}

run_lane() { local t rc=0; for t in "$@"; do do_tool "$t" || rc=1; done; return $rc; }

main() {
  local tools=() t a l s
  for a in "$@"; do
    case "$a" in
      --list) printf '%s\n' "${ALL_TOOLS[@]}" chart-crds; return 0 ;;
      -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) tools+=("$a") ;;
    esac
  done
  local crds=0
  [ ${#tools[@]} -eq 0 ] && { tools=("${ALL_TOOLS[@]}"); crds=1; }
  for a in "${!tools[@]}"; do
    [ "${tools[$a]}" = chart-crds ] && { crds=1; unset 'tools[a]'; }
  done
  tools=("${tools[@]}")
  command -v go >/dev/null || { log "go not found on PATH"; return 1; }
  # one build.sh at a time per checkout: two would write the same binaries
  exec 9>"$BIN/.lock"
  flock -n 9 || { log "waiting for another e2e/build.sh in $E2E_DIR"; flock 9; }
  log "$(go version); GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE); go build -p $JOBS, $LANES lane(s) at once"
  for t in "${tools[@]}"; do
    [ -f "$TC/$(tool_module "$t")/go.mod" ] && [ -n "$(main_pkg_of "$t")" ] \
      || { log "unknown tool: $t (e2e/build.sh --list)"; return 1; }
  done

  if [ "$crds" = 1 ]; then chart_crds || { log "failed: chart-crds"; return 1; }; fi
  [ ${#tools[@]} -eq 0 ] && return 0
  RES="$(mktemp -d)"; trap 'rm -rf "$RES"' EXIT
  s=$(date +%s)
  local running=0 lane_tools
  for l in "${LANE_ORDER[@]}"; do
    lane_tools=()
    for t in "${tools[@]}"; do [ "$(lane_of "$t")" = "$l" ] && lane_tools+=("$t"); done
    [ ${#lane_tools[@]} -eq 0 ] && continue
    if [ "$LANES" -le 1 ]; then run_lane "${lane_tools[@]}"; continue; fi
    [ $running -ge "$LANES" ] && { wait -n; running=$((running - 1)); }
    run_lane "${lane_tools[@]}" & running=$((running + 1))
  done
  wait

  local failed=()
  printf '\n%-28s %-10s %5s %6s %6s  %s\n' TOOL STATUS MODS BUILD CPU CHECK
  for t in "${tools[@]}"; do
    cat "$RES/$t" 2>/dev/null || printf '%-28s %s\n' "$t" "NO RESULT"
    case "$(awk '{print $2}' "$RES/$t" 2>/dev/null)" in cached|from-cache|built) ;; *) failed+=("$t") ;; esac
  done
  log "total $(( $(date +%s) - s ))s (MODS = module download s, BUILD = compile wall s, CPU = user+sys s)"
  if [ ${#failed[@]} -gt 0 ]; then
    log "failed: ${failed[*]}"
    return 1
  fi
}

main "$@"
