module gitops-sdk/tests/crds

go 1.26

require (
	github.com/external-secrets/external-secrets v1.3.2
	github.com/fluxcd/flagger v1.41.0
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
