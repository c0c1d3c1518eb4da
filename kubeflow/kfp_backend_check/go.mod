// Judges compiled pipelines with Kubeflow Pipelines' own backend code (release 2.17.0).
//
// The root module of kubeflow/pipelines replaces its nested modules api/ and
// kubernetes_platform/ by local paths, so this module pins both itself, at the same commit.
module imdbsentiment/kfpcheck

go 1.26

require (
	github.com/kubeflow/pipelines v0.0.0-20260709152847-4a3592cb2dd0
	github.com/kubeflow/pipelines/api v0.0.0-20260709152847-4a3592cb2dd0
	github.com/kubeflow/pipelines/kubernetes_platform v0.0.0-20260709152847-4a3592cb2dd0
)
