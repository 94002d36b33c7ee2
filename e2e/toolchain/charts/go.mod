module gitops-sdk/e2e/toolchain/charts

go 1.26

// The projects whose CRDs the stand-in charts of the e2e chart repository carry, at the
// version each pinned chart ships (see crds.list; e2e/build.sh fetches them).
require (
	github.com/cert-manager/cert-manager v1.21.1
	github.com/fluxcd/flagger v1.44.0
	github.com/prometheus-operator/prometheus-operator v0.93.1
	github.com/traefik/traefik/v3 v3.7.11
	go.universe.tf/metallb v0.16.1
)
