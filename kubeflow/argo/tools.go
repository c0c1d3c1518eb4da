//go:build tools

// Argo Workflows' controller and executor, built from their module at the version go.mod pins
// (v4.0.5, the one KFP 2.17's manifests use); build.sh builds each by import path.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v4/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller"
)
