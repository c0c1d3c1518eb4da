package argo

import (
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// Kubernetes' own cases for $(VAR) (k8s.io/kubernetes third_party/forked/golang/expansion/expand_test.go).
func TestExpandFollowsKubernetes(t *testing.T) {
	env := map[string]string{"VAR_A": "A", "VAR_EMPTY": ""}
	for in, want := range map[string]string{
		"$(VAR_A)":                "A",
		"___$(VAR_A)___":          "___A___",
		"$(VAR_NOT_DEFINED)":      "$(VAR_NOT_DEFINED)",
		"$$(VAR_A)":               "$(VAR_A)",
		"$(VAR_EMPTY)":            "",
		"$(VAR_A":                 "$(VAR_A",
		"$VAR_A":                  "$VAR_A",
		"--pod_name $(VAR_A) --x": "--pod_name A --x",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShouldExecuteAsArgo(t *testing.T) {
	for when, want := range map[string]bool{"": true, "false != true": true, "true != true": false} {
		if got, err := shouldExecute(when); err != nil || got != want {
			t.Errorf("shouldExecute(%q) = %v, %v", when, got, err)
		}
	}
	if _, err := shouldExecute(" != true"); err == nil {
		t.Error("an empty operand must be an error (the node errs), as in Argo")
	}
}

func TestUnknownFieldsAreRefusedByName(t *testing.T) {
	retries := wfv1.Workflow{Spec: wfv1.WorkflowSpec{Templates: []wfv1.Template{{Name: "t",
		Container: &corev1.Container{Image: "i"}, RetryStrategy: &wfv1.RetryStrategy{}}}}}
	if err := checkKnown(&retries); err == nil || !strings.Contains(err.Error(), `template t: field "retryStrategy"`) {
		t.Errorf("a retry strategy must be refused, got %v", err)
	}
	secretEnv := wfv1.Workflow{Spec: wfv1.WorkflowSpec{Templates: []wfv1.Template{{Name: "t",
		Container: &corev1.Container{Image: "i", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}}}}}}}
	if err := checkKnown(&secretEnv); err == nil || !strings.Contains(err.Error(), "secretKeyRef") {
		t.Errorf("an env value from a secret must be refused, got %v", err)
	}
	plain := wfv1.Workflow{Spec: wfv1.WorkflowSpec{Templates: []wfv1.Template{{Name: "t",
		Container: &corev1.Container{Image: "i", Command: []string{"c"}}}}}}
	if err := checkKnown(&plain); err != nil {
		t.Errorf("a plain container template must pass: %v", err)
	}
}

func TestGPUsAndNodeSelectorsAreRefused(t *testing.T) {
	s := &Sandbox{}
	gpu := corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"nvidia.com/gpu": {}}}}}}
	if err := s.refuseUnrunnable(&gpu); err == nil || !strings.Contains(err.Error(), "nvidia.com/gpu") {
		t.Errorf("a GPU request must be refused, got %v", err)
	}
	selected := corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}, NodeSelector: map[string]string{"a": "b"}}
	if err := s.refuseUnrunnable(&selected); err == nil {
		t.Error("a node selector must be refused")
	}
}
