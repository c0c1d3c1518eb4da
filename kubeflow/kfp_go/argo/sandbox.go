package argo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// Image is what a container image would give a process: its environment (PATH above all), and
// the files it holds at paths of its own (path in the image -> local path, bound read-only). The
// rest of the file system is the machine's: every image here runs in the project's environment.
type Image struct {
	Env   map[string]string `json:"env"`
	Files map[string]string `json:"files"`
}

// Sandbox runs a pod the way a kubelet does, each container a process in a bubblewrap sandbox of
// its own: its own /tmp, the pod's emptyDir volumes at their mount paths, the service-account
// volume every container gets (token, ca.crt, namespace), and the environment Kubernetes gives it.
type Sandbox struct {
	Dir            string // a folder per pod below it
	Images         map[string]Image
	ServiceAccount string // the folder mounted at serviceAccountPath
	KubeHost       string // KUBERNETES_SERVICE_HOST / _PORT, as the kubelet sets them
	KubePort       string
	ConfigMap      func(name string) map[string]string // envFrom's configMapRef
	Register       func(pod *corev1.Pod)               // the pod, as the API server would hold it
	Bwrap          string
}

const serviceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

func (s *Sandbox) Run(ctx context.Context, pod *Pod) (wfv1.NodePhase, string, func(string) ([]byte, error)) {
	dir := filepath.Join(s.Dir, pod.Name)
	noFiles := func(string) ([]byte, error) { return nil, errors.New("the pod did not run") }
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			return wfv1.NodeError, fmt.Sprintf("volume %s: only emptyDir volumes run here", v.Name), noFiles
		}
		if err := os.MkdirAll(filepath.Join(dir, "volumes", v.Name), 0o777); err != nil {
			return wfv1.NodeError, err.Error(), noFiles
		}
	}
	if err := s.refuseUnrunnable(&pod.Spec); err != nil {
		return wfv1.NodeError, err.Error(), noFiles
	}
	pod.Status.Phase = corev1.PodRunning
	if s.Register != nil {
		s.Register(pod.Pod)
	}
	// Init containers one after another, each to success, then the main one (Kubernetes' pod
	// lifecycle); any failure fails the pod (Argo: a non-main container's error fails the node,
	// operator.go:1709-1806).
	for _, c := range pod.Spec.InitContainers {
		if code, err := s.runContainer(ctx, pod, dir, c); err != nil || code != 0 {
			return wfv1.NodeFailed, fmt.Sprintf("init container %s: %s", c.Name, exitMessage(code, err)), noFiles
		}
	}
	var phase wfv1.NodePhase = wfv1.NodeSucceeded
	message := ""
	main := pod.Spec.Containers[0]
	if code, err := s.runContainer(ctx, pod, dir, main); err != nil || code != 0 {
		phase, message = wfv1.NodeFailed, fmt.Sprintf("%s: %s", main.Name, exitMessage(code, err))
	}
	return phase, message, func(path string) ([]byte, error) { return s.readFile(pod, dir, main, path) }
}

// refuseUnrunnable: what a pod may ask that one machine cannot give (a scheduler's and a device
// plugin's work) fails it by name rather than being dropped.
func (s *Sandbox) refuseUnrunnable(spec *corev1.PodSpec) error {
	if len(spec.Containers) != 1 {
		return fmt.Errorf("%d containers: sidecars are not run here", len(spec.Containers))
	}
	if len(spec.NodeSelector) > 0 || len(spec.Tolerations) > 0 || spec.Affinity != nil {
		return fmt.Errorf("node selection (%v, %d tolerations) needs a cluster's scheduler", spec.NodeSelector,
			len(spec.Tolerations))
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		for name := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				return fmt.Errorf("container %s asks for %s, which this machine does not have", c.Name, name)
			}
		}
	}
	return nil
}

func exitMessage(code int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Error (exit code %d)", code)
}

// containerEnv: the kubelet's order (pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables): the
// image's environment, service variables, envFrom, then env, each value with $(VAR) expanded
// against what came before; fieldRef values from the pod (the downward API).
func (s *Sandbox) containerEnv(pod *Pod, c corev1.Container, image Image) (map[string]string, error) {
	env := map[string]string{"HOSTNAME": pod.Name, "KUBERNETES_SERVICE_HOST": s.KubeHost,
		"KUBERNETES_SERVICE_PORT": s.KubePort, "KUBERNETES_SERVICE_PORT_HTTPS": s.KubePort}
	merge(env, image.Env)
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			return nil, fmt.Errorf("container %s: envFrom other than configMapRef", c.Name)
		}
		data := s.ConfigMap(from.ConfigMapRef.Name)
		if data == nil && (from.ConfigMapRef.Optional == nil || !*from.ConfigMapRef.Optional) {
			return nil, fmt.Errorf("container %s: config map %s not found", c.Name, from.ConfigMapRef.Name)
		}
		merge(env, data)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = map[string]string{"metadata.name": pod.Name, "metadata.uid": string(pod.UID),
				"metadata.namespace": pod.Namespace}[e.ValueFrom.FieldRef.FieldPath]
		default:
			return nil, fmt.Errorf("container %s: env %s: only fieldRef values are supported", c.Name, e.Name)
		}
	}
	return env, nil
}

// expand: Kubernetes' $(VAR) rule for env values, command and args
// (k8s.io/kubernetes third_party/forked/golang/expansion/expand.go): $(NAME) becomes NAME's value
// when NAME is defined, stays as written otherwise; $$ is a literal $.
func expand(s string, env map[string]string) string {
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			out.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			out.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				out.WriteString(s[i:])
				return out.String()
			}
			name := s[i+2 : i+2+end]
			if value, ok := env[name]; ok {
				out.WriteString(value)
			} else {
				out.WriteString("$(" + name + ")")
			}
			i += end + 2
		default:
			out.WriteByte('$')
		}
	}
	return out.String()
}

func (s *Sandbox) runContainer(ctx context.Context, pod *Pod, dir string, c corev1.Container) (int, error) {
	image, ok := s.Images[c.Image]
	if !ok {
		return -1, fmt.Errorf("image %q is not one this machine can run (known: %s)", c.Image, strings.Join(s.imageNames(), ", "))
	}
	env, err := s.containerEnv(pod, c, image)
	if err != nil {
		return -1, err
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return -1, fmt.Errorf("container %s has no command (image entrypoints are not known here)", c.Name)
	}
	for i := range argv {
		argv[i] = expand(argv[i], env)
	}
	own := filepath.Join(dir, "containers", c.Name)
	if err := os.MkdirAll(filepath.Join(own, "tmp"), 0o1777); err != nil {
		return -1, err
	}
	args, err := rootEntries()
	if err != nil {
		return -1, err
	}
	args = append(args, "--bind", filepath.Join(own, "tmp"), "/tmp", "--ro-bind", s.ServiceAccount, serviceAccountPath,
		"--chdir", "/", "--die-with-parent", "--clearenv")
	for inImage, local := range image.Files {
		args = append(args, "--ro-bind", local, inImage)
	}
	for _, m := range c.VolumeMounts {
		args = append(args, "--bind", filepath.Join(dir, "volumes", m.Name), m.MountPath)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--setenv", k, env[k])
	}
	log, err := os.Create(filepath.Join(own, "log"))
	if err != nil {
		return -1, err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, s.Bwrap, append(append(args, "--"), argv...)...)
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// rootEntries: the machine's top-level folders bound one by one into bubblewrap's own root, so
// that the mount points a pod needs (/gcs, /kfp-launcher, the service account's folder under a
// fresh /run) are made there and never in the machine's file system; /tmp is the container's own.
func rootEntries() ([]string, error) {
	entries, err := os.ReadDir("/")
	if err != nil {
		return nil, err
	}
	args := []string{"--dev-bind", "/dev", "/dev", "--tmpfs", "/run"}
	for _, e := range entries {
		path := "/" + e.Name()
		switch {
		case e.Name() == "dev" || e.Name() == "run" || e.Name() == "tmp":
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return nil, err
			}
			args = append(args, "--symlink", target, path)
		case e.IsDir():
			args = append(args, "--bind", path, path)
		}
	}
	return args, nil
}

// readFile reads PATH as the main container's file system had it: its /tmp, or a volume.
func (s *Sandbox) readFile(pod *Pod, dir string, main corev1.Container, path string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(path, "/tmp/"); ok {
		return os.ReadFile(filepath.Join(dir, "containers", main.Name, "tmp", rest))
	}
	for _, m := range main.VolumeMounts {
		if rest, ok := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
			return os.ReadFile(filepath.Join(dir, "volumes", m.Name, rest))
		}
	}
	return nil, fmt.Errorf("%s is neither under /tmp nor on a volume of %s", path, pod.Name)
}

func (s *Sandbox) imageNames() []string {
	names := make([]string, 0, len(s.Images))
	for name := range s.Images {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// LogPath is where a container's output went.
func (s *Sandbox) LogPath(podName, container string) string {
	return filepath.Join(s.Dir, podName, "containers", container, "log")
}
