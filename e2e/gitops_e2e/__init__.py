"""The e2e harness, installed as `gitops_e2e` with the SDK: a local Kubernetes control plane
(etcd + kube-apiserver), a Git server over HTTP that calls webhooks on push, an HTTP sink for
alerts, and the Flux controllers of the Deployments `pulumi up` created, run as local processes
with those Deployments' args and env (`flux`, `pod`). Binaries come from `e2e/bin` (built by
`e2e/build.sh`), found beside this package, so it is used from a checkout (`pip install -e .`)."""
