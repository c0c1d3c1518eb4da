// Package kubeapi answers the Kubernetes API calls that KFP 2.17's driver and launcher make, and
// nothing else.
//
// Each route is one call of KFP's source (backend/src/, release 2.17.0):
//
//	GET /api/v1/namespaces/{ns}/configmaps/{name}  v2/driver/root_dag.go:99-106 -> v2/config/env.go:72-83
//	                                               (kfp-launcher: a 404 means "the defaults")
//	GET /api/v1/namespaces/{ns}/pods/{name}        v2/component/launcher_v2.go:572-626 (the retry index,
//	                                               read from the annotation workflows.argoproj.io/node-name)
//	GET /api/v1/namespaces/{ns}/secrets/{name}     v2/objectstore/object_store.go:270-316 (bucket
//	                                               credentials, when the config map's providers name a secret)
//
// Objects are Kubernetes' own types (k8s.io/api), errors its Status (k8s.io/apimachinery), served as
// JSON, the content type client-go asks for. Any other request is answered 501 and recorded:
// Unexpected() lists them, and the caller fails the run, so a new call in a later KFP release shows
// up as a failure here rather than as a silent success. Requests must carry the bearer token the pods
// were given (client-go's in-cluster config sends it from the service-account volume).
package kubeapi

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"regexp"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Server holds the objects of one namespace: the pods the walker created, and the config maps and
// secrets the cluster is given, by "<resource>/<name>".
type Server struct {
	Namespace string
	Token     string

	mu         sync.Mutex
	objects    map[string]any
	unexpected []string
}

func New(namespace, token string) *Server {
	return &Server{Namespace: namespace, Token: token, objects: map[string]any{}}
}

func (s *Server) add(resource, name string, object any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[resource+"/"+name] = object
}

func (s *Server) AddPod(pod *corev1.Pod) {
	pod = pod.DeepCopy()
	pod.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	s.add("pods", pod.Name, pod)
}

func (s *Server) AddConfigMap(cm *corev1.ConfigMap) {
	cm = cm.DeepCopy()
	cm.TypeMeta = metav1.TypeMeta{Kind: "ConfigMap", APIVersion: "v1"}
	s.add("configmaps", cm.Name, cm)
}

func (s *Server) AddSecret(secret *corev1.Secret) {
	secret = secret.DeepCopy()
	secret.TypeMeta = metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"}
	s.add("secrets", secret.Name, secret)
}

// ConfigMap returns a config map's data, or nil: the kubelet's envFrom reads it too.
func (s *Server) ConfigMap(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cm, ok := s.objects["configmaps/"+name].(*corev1.ConfigMap); ok {
		return cm.Data
	}
	return nil
}

// Unexpected lists the requests no route knew.
func (s *Server) Unexpected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unexpected...)
}

var route = regexp.MustCompile(`^/api/v1/namespaces/([^/]+)/(pods|configmaps|secrets)/([^/]+)$`)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		s.status(w, apierrors.NewUnauthorized("no valid bearer token"))
		return
	}
	m := route.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodGet || m == nil || m[1] != s.Namespace {
		s.refuse(w, r)
		return
	}
	resource, name := m[2], m[3]
	s.mu.Lock()
	object := s.objects[resource+"/"+name]
	s.mu.Unlock()
	log.Printf("kube-api: GET %s/%s -> found=%v", resource, name, object != nil)
	if object == nil {
		s.status(w, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(object)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request) {
	call := fmt.Sprintf("%s %s", r.Method, r.URL.RequestURI())
	s.mu.Lock()
	s.unexpected = append(s.unexpected, call)
	s.mu.Unlock()
	log.Printf("kube-api: REFUSED %s: not a call KFP 2.17's driver or launcher makes for this pipeline", call)
	err := apierrors.NewGenericServerResponse(http.StatusNotImplemented, r.Method, schema.GroupResource{}, "",
		"the local Kubernetes API stand-in serves only the calls of kubeflow/kfp_go/kubeapi", 0, false)
	s.status(w, err)
}

func (s *Server) status(w http.ResponseWriter, err *apierrors.StatusError) {
	status := err.ErrStatus
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(status)
}
