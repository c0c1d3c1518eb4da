package argo

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
)

// The fields KFP 2.17's compiler (backend/src/v2/compiler/argocompiler) writes for a pipeline of
// container tasks, each handled by this package; anything else would need semantics not implemented
// here (retries, loops, artifacts, sidecars, timeouts, ...), so it is refused by name rather than
// silently ignored. resources and securityContext are read but not enforced: no scheduler, one user.
var known = map[string][]string{
	"spec":          {"templates", "entrypoint", "arguments", "serviceAccountName", "securityContext", "podMetadata"},
	"template":      {"name", "inputs", "outputs", "metadata", "container", "dag", "initContainers", "volumes", "podSpecPatch", "securityContext"},
	"inputs":        {"parameters"},
	"outputs":       {"parameters"},
	"dag":           {"tasks"},
	"task":          {"name", "template", "arguments", "depends", "when"},
	"arguments":     {"parameters"},
	"container":     {"name", "image", "command", "args", "env", "envFrom", "resources", "volumeMounts", "securityContext"},
	"env":           {"name", "value", "valueFrom"},
	"env.valueFrom": {"fieldRef"},
	"envFrom":       {"configMapRef"},
	"volume":        {"name", "emptyDir"},
	"volumeMount":   {"name", "mountPath"},
}

// Field paths a fieldRef may name: the kubelet's downward API values this package fills (sandbox.go).
var knownFieldRefs = map[string]bool{"metadata.name": true, "metadata.uid": true, "metadata.namespace": true}

func checkKnown(wf *wfv1.Workflow) error {
	var problems []string
	check := func(kind, where string, v any) map[string]any {
		raw, _ := json.Marshal(v)
		var fields map[string]any
		_ = json.Unmarshal(raw, &fields)
		for key := range fields {
			if !contains(known[kind], key) {
				problems = append(problems, fmt.Sprintf("%s: field %q", where, key))
			}
		}
		return fields
	}
	check("spec", "spec", wf.Spec)
	for _, t := range wf.Spec.Templates {
		where := "template " + t.Name
		check("template", where, t)
		check("inputs", where+".inputs", t.Inputs)
		check("outputs", where+".outputs", t.Outputs)
		if t.DAG != nil {
			check("dag", where+".dag", t.DAG)
			for _, task := range t.DAG.Tasks {
				check("task", where+".dag."+task.Name, task)
				check("arguments", where+".dag."+task.Name+".arguments", task.Arguments)
			}
		}
		for _, v := range t.Volumes {
			check("volume", where+".volumes."+v.Name, v)
		}
		containers := append([]any{}, anyOf(t.InitContainers)...)
		if t.Container != nil {
			containers = append(containers, t.Container)
		}
		for i, c := range containers {
			cw := fmt.Sprintf("%s.container[%d]", where, i)
			fields := check("container", cw, c)
			for _, e := range list(fields["env"]) {
				check("env", cw+".env", e)
				if from, ok := e.(map[string]any)["valueFrom"]; ok {
					vf := check("env.valueFrom", cw+".env.valueFrom", from)
					if ref, ok := vf["fieldRef"].(map[string]any); ok && !knownFieldRefs[fmt.Sprint(ref["fieldPath"])] {
						problems = append(problems, fmt.Sprintf("%s: fieldRef %v", cw, ref["fieldPath"]))
					}
				}
			}
			for _, e := range list(fields["envFrom"]) {
				check("envFrom", cw+".envFrom", e)
			}
			for _, m := range list(fields["volumeMounts"]) {
				check("volumeMount", cw+".volumeMounts", m)
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("the workflow uses what this runner does not implement: %s", strings.Join(problems, "; "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func anyOf[T any](items []T) []any {
	out := make([]any, len(items))
	for i := range items {
		out[i] = items[i]
	}
	return out
}
