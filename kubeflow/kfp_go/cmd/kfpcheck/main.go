// Command kfpcheck tells whether Kubeflow Pipelines 2.17 accepts compiled pipelines, by running
// the backend's own code on each file: the API server's upload (template.NewV2SpecTemplate), run
// creation (V2Spec.RunWorkflow: parameter validation, then the Argo compiler with the platform
// spec) and the driver's parsing of the pipeline root (objectstore.ParseBucketConfig).
//
//	kfpcheck [-params JSON] FILE...
//
// It prints one JSON line per file, {"file", "accepted", "stage", "error", "templates"}, and
// exits 1 if any file is refused, so that tests can assert both acceptance and refusal.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/kubeflow/pipelines/backend/src/apiserver/config/proxy"
	"github.com/kubeflow/pipelines/backend/src/apiserver/model"
	"github.com/kubeflow/pipelines/backend/src/apiserver/template"
	"github.com/kubeflow/pipelines/backend/src/v2/objectstore"
)

type verdict struct {
	File      string `json:"file"`
	Accepted  bool   `json:"accepted"`
	Stage     string `json:"stage,omitempty"`
	Error     string `json:"error,omitempty"`
	Templates int    `json:"templates,omitempty"`
}

func judge(path, params string) verdict {
	v := verdict{File: path}
	refuse := func(stage string, err error) verdict {
		v.Stage, v.Error = stage, err.Error()
		return v
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return refuse("read", err)
	}
	spec, err := template.NewV2SpecTemplate(raw, template.TemplateOptions{})
	if err != nil {
		return refuse("upload", err)
	}
	run := &model.Run{DisplayName: "kfpcheck"}
	run.PipelineSpec.RuntimeConfig.Parameters = model.LargeText(params)
	workflow, err := spec.RunWorkflow(run, template.RunWorkflowOptions{RunID: "kfpcheck-run", RunAt: 0})
	if err != nil {
		return refuse("run", err)
	}
	if _, err := objectstore.ParseBucketConfig(spec.PipelineSpec().GetDefaultPipelineRoot(), nil); err != nil {
		return refuse("pipeline root", err)
	}
	v.Accepted = true
	v.Templates = templateCount(workflow.ToStringForStore())
	return v
}

// templateCount reads the number of Argo templates from the compiled workflow.
func templateCount(workflowJSON string) int {
	var workflow struct {
		Spec struct {
			Templates []json.RawMessage `json:"templates"`
		} `json:"spec"`
	}
	if json.Unmarshal([]byte(workflowJSON), &workflow) != nil {
		return 0
	}
	return len(workflow.Spec.Templates)
}

func main() {
	proxy.InitializeConfig("", "", "") // as an API server configured without an HTTP proxy
	params := flag.String("params", "", "run parameters as a JSON object, as the API server receives them")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: kfpcheck [-params JSON] FILE...")
		os.Exit(2)
	}
	status := 0
	out := json.NewEncoder(os.Stdout)
	for _, path := range flag.Args() {
		v := judge(path, *params)
		if !v.Accepted {
			status = 1
		}
		_ = out.Encode(v)
	}
	os.Exit(status)
}
