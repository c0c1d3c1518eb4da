package argo

import (
	"context"
	"fmt"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
	wfutil "github.com/argoproj/argo-workflows/v4/workflow/util"
	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Pod is what the controller would create for a container template, and what a kubelet runs.
type Pod struct {
	*corev1.Pod
	NodeID string
}

func (w *Walker) podName(nodeName, templateName string) string {
	// getPodName, operator.go:4519-4522; names of version v2 unless the workflow says otherwise.
	return wfutil.GeneratePodName(w.Workflow.Name, nodeName, templateName, w.Workflow.NodeID(nodeName),
		wfutil.GetWorkflowPodNameVersion(w.Workflow))
}

// buildPod: workflowpod.go:116-639 (createWorkflowPod), the parts a process-level kubelet needs:
// the main container named "main" (142-146), init containers and volumes from the template,
// metadata (addMetadata, 906-916), then the template's podSpecPatch merged by Argo's own function
// (406-418). Argo's own init and wait containers and the emissary wrapper are not run: the outputs
// they would collect are read here from the main container's files (outputs, below).
func (w *Walker) buildPod(node *Node, tmpl *wfv1.Template) (*Pod, error) {
	main := tmpl.Container.DeepCopy()
	main.Name = common.MainContainerName
	var inits []corev1.Container
	for _, c := range tmpl.InitContainers {
		inits = append(inits, c.Container)
	}
	spec := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: w.Workflow.Spec.ServiceAccountName,
		InitContainers:     inits,
		Containers:         []corev1.Container{*main},
		Volumes:            tmpl.Volumes,
	}
	if tmpl.PodSpecPatch != "" {
		patched, err := wfutil.ApplyPodSpecPatch(spec, tmpl.PodSpecPatch)
		if err != nil {
			return nil, fmt.Errorf("podSpecPatch: %w", err)
		}
		spec = *patched
	}
	labels := map[string]string{"workflows.argoproj.io/workflow": w.Workflow.Name,
		"workflows.argoproj.io/completed": "false"}
	annotations := map[string]string{"workflows.argoproj.io/node-name": node.Name,
		"workflows.argoproj.io/node-id": node.ID, "kubectl.kubernetes.io/default-container": common.MainContainerName}
	if pm := w.Workflow.Spec.PodMetadata; pm != nil {
		merge(labels, pm.Labels)
		merge(annotations, pm.Annotations)
	}
	merge(labels, tmpl.Metadata.Labels)
	merge(annotations, tmpl.Metadata.Annotations)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: node.PodName, Namespace: w.Namespace, UID: types.UID(uuid.NewString()),
			Labels: labels, Annotations: annotations, CreationTimestamp: metav1.Now()},
		Spec: spec,
	}
	return &Pod{Pod: pod, NodeID: node.ID}, nil
}

func merge(into, from map[string]string) {
	for k, v := range from {
		into[k] = v
	}
}

func (w *Walker) runPod(ctx context.Context, node *Node, tmpl *wfv1.Template) *Node {
	pod, err := w.buildPod(node, tmpl)
	if err != nil {
		return w.finish(node, wfv1.NodeError, err.Error())
	}
	node.StartedAt = time.Now()
	phase, message, readFile := w.Pods.Run(ctx, pod)
	if phase == wfv1.NodeError {
		return w.finish(node, phase, message)
	}
	outputs, err := outputs(tmpl, readFile)
	if err != nil { // the wait container's SaveParameters error: the node errs
		return w.finish(node, wfv1.NodeError, err.Error())
	}
	node.Outputs = outputs
	return w.finish(node, phase, message)
}

// outputs: workflow/executor/executor.go:609-659 (SaveParameters), after the main container exits
// whatever its status: each valueFrom.path read from the main container's file system, its
// valueFrom.default when it cannot be read, an error when there is neither; one trailing newline
// trimmed (654).
func outputs(tmpl *wfv1.Template, readFile func(string) ([]byte, error)) (map[string]string, error) {
	values := map[string]string{}
	for _, param := range tmpl.Outputs.Parameters {
		if param.ValueFrom == nil || param.ValueFrom.Path == "" {
			return nil, fmt.Errorf("output parameter %s: only valueFrom.path is supported here", param.Name)
		}
		raw, err := readFile(param.ValueFrom.Path)
		switch {
		case err == nil:
			values[param.Name] = strings.TrimSuffix(string(raw), "\n")
		case param.ValueFrom.Default != nil:
			values[param.Name] = param.ValueFrom.Default.String()
		default:
			return nil, fmt.Errorf("output parameter %s: %s: %v", param.Name, param.ValueFrom.Path, err)
		}
	}
	return values, nil
}
