package kubeapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func get(t *testing.T, s *Server, path, token string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Result(), body
}

func TestServesKnownObjectsAndAStatusForMissingOnes(t *testing.T) {
	s := New("kubeflow", "t")
	s.AddPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{"a": "b"}}})
	resp, body := get(t, s, "/api/v1/namespaces/kubeflow/pods/p", "t")
	if resp.StatusCode != 200 || body["kind"] != "Pod" {
		t.Fatalf("pod: %d %v", resp.StatusCode, body)
	}
	resp, body = get(t, s, "/api/v1/namespaces/kubeflow/configmaps/kfp-launcher", "t")
	if resp.StatusCode != 404 || body["kind"] != "Status" || body["reason"] != "NotFound" {
		t.Fatalf("a missing config map must be a NotFound Status (client-go's IsNotFound): %d %v", resp.StatusCode, body)
	}
	if len(s.Unexpected()) != 0 {
		t.Fatalf("known calls recorded as unexpected: %v", s.Unexpected())
	}
}

func TestAnyOtherCallIsRefusedAndRecorded(t *testing.T) {
	s := New("kubeflow", "t")
	for _, path := range []string{"/api/v1/namespaces/kubeflow/persistentvolumeclaims/x",
		"/apis/argoproj.io/v1alpha1/namespaces/kubeflow/workflows/w", "/api/v1/namespaces/other/pods/p"} {
		if resp, _ := get(t, s, path, "t"); resp.StatusCode != http.StatusNotImplemented {
			t.Errorf("%s: %d, want 501", path, resp.StatusCode)
		}
	}
	if len(s.Unexpected()) != 3 {
		t.Errorf("refused calls not recorded: %v", s.Unexpected())
	}
	if resp, _ := get(t, s, "/api/v1/namespaces/kubeflow/pods/p", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", resp.StatusCode)
	}
}
