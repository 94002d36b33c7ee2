module gitops-sdk/tests/crds

go 1.26

require (
	github.com/cert-manager/cert-manager v1.21.1
	github.com/external-secrets/external-secrets v1.3.2
	github.com/fluxcd/flagger v1.44.0
	github.com/prometheus-operator/prometheus-operator v0.93.1
	go.universe.tf/metallb v0.16.1
)
