// Package argo runs a Workflow that KFP 2.17's compiler produced, the way Argo Workflows v4.0.5's
// controller runs it, with each pod's containers as local processes (sandbox.go).
//
// Argo's own exported code does the substitution (workflow/common.ProcessArgs,
// util/template.ReplaceStrict), parses and evaluates `depends` (workflow/common.GetTaskDependencies,
// util/expr/argoexpr.EvalBool), names nodes and pods (v1alpha1.Workflow.NodeID,
// workflow/util.GeneratePodName) and merges the pod-spec patch (workflow/util.ApplyPodSpecPatch).
// The controller's walk itself is unexported (workflow/controller), so it is re-stated here, each
// rule citing the file of argoproj/argo-workflows v4.0.5 it comes from. One difference, of timing
// only: pods run one at a time, where the controller would start every ready pod at once.
//
// What the walk does not know it refuses (known.go): a template, task or container field outside
// the ones KFP's compiler emits for container tasks fails the run, naming the field.
package argo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/expr/argoexpr"
	"github.com/argoproj/argo-workflows/v4/util/template"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
)

// Node is one node of the workflow's status, as the controller keeps it (wfv1.NodeStatus, trimmed).
type Node struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Template   string            `json:"template"`
	Type       wfv1.NodeType     `json:"type"`
	Phase      wfv1.NodePhase    `json:"phase"`
	Message    string            `json:"message,omitempty"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	PodName    string            `json:"podName,omitempty"`
	Log        string            `json:"log,omitempty"`
	StartedAt  time.Time         `json:"startedAt"`
	FinishedAt time.Time         `json:"finishedAt"`
}

// PodRunner runs a pod to completion (its init containers in order, then main) and returns the
// phase, a message, and a reader of files in the main container's file system.
type PodRunner interface {
	Run(ctx context.Context, pod *Pod) (wfv1.NodePhase, string, func(path string) ([]byte, error))
}

type Walker struct {
	Workflow  *wfv1.Workflow
	Namespace string
	Pods      PodRunner
	Progress  func(node *Node)

	globals common.Parameters
	nodes   map[string]*Node
	order   []string
}

// Run walks the workflow from its entrypoint; the workflow's phase is its entry node's (operator.go:396-404).
func (w *Walker) Run(ctx context.Context) (wfv1.NodePhase, error) {
	if err := checkKnown(w.Workflow); err != nil {
		return wfv1.NodeError, err
	}
	w.nodes = map[string]*Node{}
	w.globals = globalParameters(w.Workflow, w.Namespace)
	args := w.Workflow.Spec.Arguments
	node := w.executeTemplate(ctx, w.Workflow.Name, w.Workflow.Spec.Entrypoint, &args, nil)
	switch node.Phase {
	case wfv1.NodeSucceeded, wfv1.NodeSkipped, wfv1.NodeOmitted:
		return wfv1.NodeSucceeded, nil
	default:
		return node.Phase, nil
	}
}

// Nodes lists every node in the order it finished.
func (w *Walker) Nodes() []*Node {
	out := make([]*Node, 0, len(w.order))
	for _, name := range w.order {
		out = append(out, w.nodes[name])
	}
	return out
}

// globalParameters: workflow/controller/operator.go:623-724 (setGlobalParameters), the names from
// workflow/common/common.go:201-234.
func globalParameters(wf *wfv1.Workflow, namespace string) common.Parameters {
	p := common.Parameters{
		common.GlobalVarWorkflowName:               wf.Name,
		common.GlobalVarWorkflowNamespace:          namespace,
		common.GlobalVarWorkflowMainEntrypoint:     wf.Spec.Entrypoint,
		common.GlobalVarWorkflowServiceAccountName: wf.Spec.ServiceAccountName,
		common.GlobalVarWorkflowUID:                string(wf.UID),
		common.GlobalVarWorkflowCreationTimestamp:  wf.CreationTimestamp.UTC().Format(time.RFC3339),
	}
	values := map[string]string{}
	for _, param := range wf.Spec.Arguments.Parameters {
		p["workflow.parameters."+param.Name] = param.Value.String()
		values[param.Name] = param.Value.String()
	}
	raw, _ := json.Marshal(wf.Spec.Arguments.Parameters)
	p[common.GlobalVarWorkflowParameters] = string(raw)
	p[common.GlobalVarWorkflowParameters+".json"] = string(raw)
	for k, v := range wf.Labels {
		p["workflow.labels."+k] = v
	}
	for k, v := range wf.Annotations {
		p["workflow.annotations."+k] = v
	}
	return p
}

func (w *Walker) finish(node *Node, phase wfv1.NodePhase, message string) *Node {
	node.Phase, node.Message, node.FinishedAt = phase, message, time.Now()
	w.order = append(w.order, node.Name)
	if w.Progress != nil {
		w.Progress(node)
	}
	return node
}

func (w *Walker) newNode(name, templateName string, kind wfv1.NodeType) *Node {
	node := &Node{Name: name, ID: w.Workflow.NodeID(name), Template: templateName, Type: kind,
		Phase: wfv1.NodeRunning, StartedAt: time.Now()}
	w.nodes[name] = node
	return node
}

// executeTemplate: operator.go:2089 (executeTemplate): the template's inputs resolved from the
// arguments (common.ProcessArgs: an input's default, overridden by the argument's value), then a
// pod or a DAG.
func (w *Walker) executeTemplate(ctx context.Context, nodeName, templateName string, args wfv1.ArgumentsProvider,
	task *wfv1.DAGTask) *Node {
	tmpl := w.Workflow.GetTemplateByName(templateName)
	kind := wfv1.NodeTypePod
	if tmpl != nil && tmpl.DAG != nil {
		kind = wfv1.NodeTypeDAG
	}
	node := w.newNode(nodeName, templateName, kind)
	if tmpl == nil {
		return w.finish(node, wfv1.NodeError, fmt.Sprintf("template %q not found", templateName))
	}
	locals := common.Parameters{"node.name": nodeName}
	if task != nil {
		locals["tasks.name"] = task.Name
	}
	if kind == wfv1.NodeTypePod {
		node.PodName = w.podName(nodeName, tmpl.Name)
		locals["pod.name"] = node.PodName // operator.go:2137-2150
	}
	processed, err := common.ProcessArgs(ctx, tmpl, args, w.globals, locals, false, w.Namespace, nil)
	if err != nil {
		return w.finish(node, wfv1.NodeError, err.Error())
	}
	if kind == wfv1.NodeTypeDAG {
		return w.executeDAG(ctx, node, processed)
	}
	return w.runPod(ctx, node, processed)
}

type dagContext struct{ tasks []wfv1.DAGTask }

func (d dagContext) GetTask(_ context.Context, name string) *wfv1.DAGTask {
	for i := range d.tasks {
		if d.tasks[i].Name == name {
			return &d.tasks[i]
		}
	}
	return nil
}

func (d dagContext) GetTaskDependencies(ctx context.Context, name string) []string {
	deps, _ := common.GetTaskDependencies(ctx, d.GetTask(ctx, name), d)
	out := make([]string, 0, len(deps))
	for dep := range deps {
		out = append(out, dep)
	}
	sort.Strings(out)
	return out
}

func (d dagContext) GetTaskFinishedAtTime(context.Context, string) time.Time { return time.Time{} }

// executeDAG: dag.go:230-395. The targets are the tasks nothing depends on (findLeafTaskNames,
// dag.go:839-857); each is executed after its dependencies (executeDAGTask, dag.go:535-538).
func (w *Walker) executeDAG(ctx context.Context, node *Node, tmpl *wfv1.Template) *Node {
	dag := dagContext{tmpl.DAG.Tasks}
	depended := map[string]bool{}
	for _, task := range dag.tasks {
		for _, dep := range dag.GetTaskDependencies(ctx, task.Name) {
			depended[dep] = true
		}
	}
	var targets []string
	for _, task := range dag.tasks {
		if !depended[task.Name] {
			targets = append(targets, task.Name)
		}
	}
	sort.Strings(targets)
	scope := common.Parameters{}
	for _, param := range tmpl.Inputs.Parameters { // createScope, scope.go:24-40
		scope["inputs.parameters."+param.Name] = param.Value.String()
	}
	for _, target := range targets {
		w.executeDAGTask(ctx, node, dag, target, scope)
	}
	// assessDAGPhase, dag.go:134-229: with no continueOn, a DAG fails (or errs) when a task in it
	// did; Skipped and Omitted tasks never fail it by themselves.
	phase := wfv1.NodeSucceeded
	for _, task := range dag.tasks {
		if child, ok := w.nodes[node.Name+"."+task.Name]; ok && child.Phase.FailedOrError() && phase == wfv1.NodeSucceeded {
			phase = child.Phase
		}
	}
	return w.finish(node, phase, "")
}

// TaskResults: dag.go:917-926, the values `depends` is evaluated against (an exported type of the
// controller package, which cannot be imported without the whole controller).
type TaskResults struct {
	Succeeded    bool `json:"Succeeded"`
	Failed       bool `json:"Failed"`
	Errored      bool `json:"Errored"`
	Skipped      bool `json:"Skipped"`
	Omitted      bool `json:"Omitted"`
	Daemoned     bool `json:"Daemoned"`
	AnySucceeded bool `json:"AnySucceeded"`
	AllFailed    bool `json:"AllFailed"`
}

func (w *Walker) executeDAGTask(ctx context.Context, dagNode *Node, dag dagContext, name string, scope common.Parameters) {
	nodeName := dagNode.Name + "." + name // taskNodeName, dag.go:112-114
	if _, done := w.nodes[nodeName]; done {
		return
	}
	task := dag.GetTask(ctx, name)
	deps, logic := common.GetTaskDependencies(ctx, task, dag)
	for _, dep := range dag.GetTaskDependencies(ctx, name) {
		w.executeDAGTask(ctx, dagNode, dag, dep, scope)
	}
	if logic != "" { // evaluateDependsLogic, dag.go:930-987; outcomes, dag.go:535-556
		results := map[string]TaskResults{}
		for dep := range deps {
			phase := w.nodes[dagNode.Name+"."+dep].Phase
			results[strings.ReplaceAll(dep, "-", "_")] = TaskResults{
				Succeeded: phase == wfv1.NodeSucceeded, Failed: phase == wfv1.NodeFailed,
				Errored: phase == wfv1.NodeError, Skipped: phase == wfv1.NodeSkipped, Omitted: phase == wfv1.NodeOmitted}
		}
		ok, err := argoexpr.EvalBool(strings.ReplaceAll(logic, "-", "_"), results)
		if err != nil {
			w.finish(w.newNode(nodeName, task.Template, wfv1.NodeTypeSkipped), wfv1.NodeError, err.Error())
			return
		}
		if !ok {
			w.finish(w.newNode(nodeName, task.Template, wfv1.NodeTypeSkipped), wfv1.NodeOmitted,
				"omitted: depends condition not met")
			return
		}
	}
	// resolveDependencyReferences, dag.go:729-836: the DAG's inputs, and the outputs of the task's
	// ancestors (buildLocalScope, operator.go:3438-3493; "" for a skipped one's, dag.go:706-722).
	local := scope.DeepCopy()
	for _, ancestor := range common.GetTaskAncestry(ctx, dag, name) {
		prior := w.nodes[dagNode.Name+"."+ancestor]
		prefix := "tasks." + ancestor
		local[prefix+".id"], local[prefix+".status"] = prior.ID, string(prior.Phase)
		ancestorTmpl := w.Workflow.GetTemplateByName(dag.GetTask(ctx, ancestor).Template)
		for _, out := range ancestorTmpl.Outputs.Parameters {
			local[prefix+".outputs.parameters."+out.Name] = prior.Outputs[out.Name]
		}
	}
	params := w.globals.Merge(local)
	if task.When != "" { // dag.go:751-785 (the string substituted as JSON), then shouldExecute (606-617)
		quoted, _ := json.Marshal(task.When)
		replaced, err := template.ReplaceStrict(ctx, string(quoted), params, []string{"tasks", "steps"})
		var when string
		if err == nil {
			err = json.Unmarshal([]byte(replaced), &when)
		}
		run := false
		if err == nil {
			run, err = shouldExecute(when)
		}
		if err != nil {
			w.finish(w.newNode(nodeName, task.Template, wfv1.NodeTypeSkipped), wfv1.NodeError, err.Error())
			return
		}
		if !run {
			w.finish(w.newNode(nodeName, task.Template, wfv1.NodeTypeSkipped), wfv1.NodeSkipped,
				fmt.Sprintf("when '%s' evaluated false", when))
			return
		}
	}
	raw, _ := json.Marshal(task)
	replaced, err := template.ReplaceStrict(ctx, string(raw), params, []string{"tasks", "steps"})
	var resolved wfv1.DAGTask
	if err == nil {
		err = json.Unmarshal([]byte(replaced), &resolved)
	}
	if err != nil {
		w.finish(w.newNode(nodeName, task.Template, wfv1.NodeTypePod), wfv1.NodeError, err.Error())
		return
	}
	w.executeTemplate(ctx, nodeName, resolved.Template, &resolved.Arguments, &resolved)
}
