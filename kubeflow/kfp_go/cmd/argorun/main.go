// Command argorun runs one run of a compiled pipeline the way a KFP 2.17 deployment does, with
// KFP's own code at each step and Argo's walk done by package argo:
//
//  1. run creation, as KFP's API server does it (apiserver/resource/resource_manager.go, CreateRun):
//     the template parsed (template.NewV2SpecTemplate), the Argo Workflow compiled with the run's
//     parameters and pipeline root (V2Spec.RunWorkflow: argocompiler), validated, namespaced, named
//     from its generateName as Kubernetes' API server names it;
//  2. every pod of that Workflow run by package argo: KFP's real driver and launcher binaries (the
//     images named in -images), the task commands in the project's environment;
//  3. the Kubernetes API those binaries call, served from package kubeapi on -kube-listen.
//
// The API server is configured as one deployed with caching off (CacheEnabled=false, i.e.
// TemplateOptions.CacheDisabled; apiserver/main.go:225): the compiler then gives every driver
// --cache_disabled (argocompiler/container.go:218-220), the driver passes it to the launcher, and
// neither calls the API server's task service, the cache's only store (v2/cacheutils/cache.go:79-82).
//
//	argorun -spec PIPELINE.yaml -pipeline-root gs://B/P -params '{"epochs": 3}' -images images.json \
//	    -kube-listen 10.96.0.1:443 -kube-cert C -kube-key K -ca CA -work DIR -report run.json
//
// Exit status: 0 when the workflow succeeded, 1 when it failed, 2 when it could not start, 3 when a
// pod called a Kubernetes API the stand-in does not serve.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/google/uuid"
	"github.com/kubeflow/pipelines/backend/src/apiserver/config/proxy"
	"github.com/kubeflow/pipelines/backend/src/apiserver/model"
	"github.com/kubeflow/pipelines/backend/src/apiserver/template"
	"github.com/kubeflow/pipelines/backend/src/common/util"
	"github.com/kubeflow/pipelines/backend/src/v2/compiler/argocompiler"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"imdbsentiment/kfp/argo"
	"imdbsentiment/kfp/kubeapi"
)

type report struct {
	RunID       string       `json:"run_id"`
	Workflow    string       `json:"workflow"`
	Phase       string       `json:"phase"`
	Error       string       `json:"error,omitempty"`
	Nodes       []*argo.Node `json:"nodes"`
	UnknownAPIs []string     `json:"unknown_kubernetes_calls"`
}

func main() {
	spec := flag.String("spec", "", "the pipeline ./imdb compile wrote (PipelineSpec and platform spec)")
	params := flag.String("params", "{}", "run parameters, as JSON")
	root := flag.String("pipeline-root", "", "the run's pipeline root, as ./imdb submit sets it")
	runID := flag.String("run-id", "", "the run's id (default: a new UUID, as the API server assigns)")
	namespace := flag.String("namespace", "kubeflow", "the Kubernetes namespace")
	images := flag.String("images", "", "JSON: image reference -> {env}: what the pipeline's images run with here")
	kfpBin := flag.String("kfp-bin", "", "the folder of KFP's driver and launcher-v2: its driver and launcher images")
	kubeListen := flag.String("kube-listen", "", "address of the Kubernetes API stand-in (the pods' KUBERNETES_SERVICE_HOST:PORT)")
	kubeCert := flag.String("kube-cert", "", "its TLS certificate")
	kubeKey := flag.String("kube-key", "", "its TLS key")
	ca := flag.String("ca", "", "the CA that signed it: the pods' service-account ca.crt")
	work := flag.String("work", "", "a folder for the pods' files (volumes, /tmp, logs)")
	reportPath := flag.String("report", "", "write the run's outcome here (JSON)")
	bwrap := flag.String("bwrap", "bwrap", "bubblewrap, the pods' sandbox")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := logging.WithLogger(context.Background(), logging.NewSlogLogger(logging.Warn, logging.Text))

	out := &report{UnknownAPIs: []string{}}
	status := run(ctx, out, options{*spec, *params, *root, *runID, *namespace, *images, *kubeListen, *kubeCert,
		*kubeKey, *ca, *work, *bwrap, *kfpBin})
	if *reportPath != "" {
		raw, _ := json.MarshalIndent(out, "", " ")
		if err := os.WriteFile(*reportPath, raw, 0o644); err != nil {
			log.Printf("report: %v", err)
		}
	}
	os.Exit(status)
}

type options struct {
	spec, params, root, runID, namespace, images, kubeListen, kubeCert, kubeKey, ca, work, bwrap, kfpBin string
}

func run(ctx context.Context, out *report, o options) int {
	fail := func(err error) int {
		out.Phase, out.Error = string(wfv1.NodeError), err.Error()
		log.Printf("error: %v", err)
		return 2
	}
	wf, err := createRun(o)
	if err != nil {
		return fail(err)
	}
	out.RunID, out.Workflow = wf.Labels["pipeline/runid"], wf.Name
	imageTable := map[string]argo.Image{}
	if raw, err := os.ReadFile(o.images); err != nil {
		return fail(err)
	} else if err := json.Unmarshal(raw, &imageTable); err != nil {
		return fail(fmt.Errorf("%s: %w", o.images, err))
	}
	// The images KFP's compiler names for its own binaries (argocompiler/container.go:50-53, unless
	// the API server's V2_DRIVER_IMAGE / V2_LAUNCHER_IMAGE say otherwise).
	kfpImage := argo.Image{Env: map[string]string{"PATH": o.kfpBin + ":/usr/local/bin:/usr/bin:/bin"}}
	imageTable[argocompiler.DefaultDriverImage], imageTable[argocompiler.DefaultLauncherImage] = kfpImage, kfpImage
	api := kubeapi.New(o.namespace, randomHex(16))
	saDir, err := serviceAccount(o.work, api, o.ca)
	if err != nil {
		return fail(err)
	}
	host, port, stop, err := serveAPI(api, o.kubeListen, o.kubeCert, o.kubeKey)
	if err != nil {
		return fail(err)
	}
	defer stop()

	sandbox := &argo.Sandbox{Dir: filepath.Join(o.work, "pods"), Images: imageTable, ServiceAccount: saDir,
		KubeHost: host, KubePort: port, ConfigMap: api.ConfigMap, Register: api.AddPod, Bwrap: o.bwrap}
	walker := &argo.Walker{Workflow: wf, Namespace: o.namespace, Pods: sandbox, Progress: func(n *argo.Node) {
		if n.Type == wfv1.NodeTypePod {
			n.Log = sandbox.LogPath(n.PodName, "main")
		}
		if n.Type != wfv1.NodeTypeDAG || n.Phase.FailedOrError() {
			log.Printf("%-9s %-45s %6.1f s %s", n.Phase, n.Name, n.FinishedAt.Sub(n.StartedAt).Seconds(), n.Message)
		}
	}}
	phase, err := walker.Run(ctx)
	out.Nodes, out.UnknownAPIs, out.Phase = walker.Nodes(), append(out.UnknownAPIs, api.Unexpected()...), string(phase)
	if err != nil {
		return fail(err)
	}
	log.Printf("workflow %s: %s", wf.Name, phase)
	if len(out.UnknownAPIs) > 0 {
		log.Printf("error: calls the Kubernetes API stand-in does not serve: %v", out.UnknownAPIs)
		return 3
	}
	if phase != wfv1.NodeSucceeded {
		return 1
	}
	return 0
}

// createRun: what apiserver/resource/resource_manager.go's CreateRun does before it hands the
// Workflow to Kubernetes (665-693), and the name Kubernetes' API server gives a generateName
// (k8s.io/apiserver/pkg/storage/names: five of rand.String's characters).
func createRun(o options) (*wfv1.Workflow, error) {
	proxy.InitializeConfig("", "", "")
	raw, err := os.ReadFile(o.spec)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.NewV2SpecTemplate(raw, template.TemplateOptions{CacheDisabled: true})
	if err != nil {
		return nil, fmt.Errorf("upload refused: %w", err)
	}
	id := o.runID
	if id == "" {
		id = uuid.NewString()
	}
	run := &model.Run{UUID: id, DisplayName: "argorun-" + id, Namespace: o.namespace}
	run.PipelineSpec.RuntimeConfig.Parameters = model.LargeText(o.params)
	run.PipelineSpec.RuntimeConfig.PipelineRoot = model.LargeText(o.root)
	now := time.Now()
	spec, err := tmpl.RunWorkflow(run, template.RunWorkflowOptions{RunID: id, RunAt: now.Unix()})
	if err != nil {
		return nil, fmt.Errorf("run refused: %w", err)
	}
	if err := spec.Validate(false, false); err != nil {
		return nil, fmt.Errorf("workflow invalid: %w", err)
	}
	spec.SetExecutionNamespace(o.namespace)
	wrapped, ok := spec.(*util.Workflow)
	if !ok {
		return nil, fmt.Errorf("the API server compiled a %T, not an Argo Workflow", spec)
	}
	wf := wrapped.Workflow.DeepCopy()
	wf.Name = wf.GenerateName + utilrand.String(5)
	wf.UID = types.UID(uuid.NewString())
	wf.CreationTimestamp = metav1.NewTime(now)
	return wf, nil
}

// serviceAccount writes what the kubelet mounts in every container: the namespace (no newline:
// KFP reads it raw, v2/config/env.go:95-103), a token, and the cluster's CA.
func serviceAccount(work string, api *kubeapi.Server, ca string) (string, error) {
	dir := filepath.Join(work, "serviceaccount")
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for name, content := range map[string][]byte{"namespace": []byte(api.Namespace), "token": []byte(api.Token),
		"ca.crt": caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func serveAPI(api *kubeapi.Server, listen, cert, key string) (string, string, func(), error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return "", "", nil, err
	}
	server := &http.Server{Addr: listen, Handler: api, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}},
		ErrorLog: log.Default()}
	ln, err := tls.Listen("tcp", listen, server.TLSConfig)
	if err != nil {
		return "", "", nil, err
	}
	go func() { _ = server.Serve(ln) }()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return host, port, func() { _ = server.Close() }, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
