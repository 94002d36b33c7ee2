// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider plugin,
// built from the published github.com/pulumi/pulumi-kubernetes/provider/v4
// module.
//
// The upstream main package (provider/cmd/pulumi-resource-kubernetes) embeds
// schema-embed.json and terraform-mapping-embed.json, which upstream's
// `go generate` writes from schema.json and terraform-mapping.json at build
// time; the module zip ships only the latter two, so `go build` of the
// upstream package fails. This package is the same three-line main; e2e/build.sh
// generates the two *-embed.json files next to it (git-ignored) with upstream's
// own generate.go before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

var providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
