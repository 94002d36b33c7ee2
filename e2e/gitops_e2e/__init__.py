"""The e2e harness, installed as `gitops_e2e` with the SDK: a local Kubernetes control plane
(etcd + kube-apiserver), a Git server over HTTP, and Flux's source- and kustomize-controller as
local processes. Binaries come from `e2e/bin` (built by `e2e/build.sh`), found beside this
package, so it is used from a checkout (`pip install -e .`)."""
