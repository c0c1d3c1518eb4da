// Command gcpfront serves the Google endpoints a pod on GKE reaches for Cloud Storage, on the node
// of the local cluster (kubeflow/cluster/kfp.sh), whose DNS resolves their names to it:
//
//   - the metadata server (metadata.google.internal, 169.254.169.254:80), the way Workload Identity
//     gives a pod its credentials: a token for the default service account, which both KFP's Go
//     launcher (golang.org/x/oauth2/google's ADC, via cloud.google.com/go/compute/metadata) and
//     TensorFlow's GCS file system (tsl/platform/cloud/google_auth_provider.cc) ask for when no other
//     credentials are set;
//   - storage.googleapis.com and www.googleapis.com over TLS, relayed to fake-gcs-server (a
//     program implementing the Cloud Storage JSON and XML APIs), after checking the token;
//   - iamcredentials.googleapis.com's allowedLocations, which google-auth (Beam's GCS I/O) looks up
//     for a service account (google/auth/_regional_access_boundary_utils.py): no boundary, the
//     answer google-auth itself uses for none (credentials.py, NO_OP_TRUST_BOUNDARY_*).
//
// Two repairs on the way. Batch requests (POST /batch/storage/v1) get a Content-ID on each part
// that has none: google-cloud-storage (Beam's GCS I/O deletes and copies in batches) sends none,
// Cloud Storage answers such parts, and fake-gcs-server skips them (fakestorage/server.go,
// handleBatchCall), answering an empty batch. And TensorFlow's libcurl requests with an empty body carry
// "Transfer-Encoding: identity" (the resumable-upload start, directory markers, rewrites), which Go's
// HTTP server, fake-gcs-server's, answers 501 "Unsupported transfer encoding" before any handler
// runs (net/http transfer.go, parseTransferEncoding); Cloud Storage accepts it. The header is dropped
// here, everything else passes unchanged. Any request to a path the metadata server does not serve
// is answered 404 and logged with REFUSED, for the tests to fail on.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
)

func main() {
	storage := flag.String("storage-listen", "127.0.0.1:443", "TLS address of storage.googleapis.com and www.googleapis.com")
	backend := flag.String("backend", "127.0.0.1:4443", "fake-gcs-server's plain HTTP address")
	metadata := flag.String("metadata-listen", "169.254.169.254:80", "the metadata server's address")
	cert := flag.String("cert", "", "TLS certificate for the storage names")
	key := flag.String("key", "", "its key")
	token := flag.String("token", "", "the access token the metadata server issues and storage requires")
	account := flag.String("service-account", "", "the default service account's email")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *token == "" || *account == "" {
		log.Fatal("-token and -service-account are required")
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := tls.Listen("tcp", *storage, &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		log.Fatal(http.ListenAndServe(*metadata, metadataServer(*token, *account)))
	}()
	log.Printf("storage https://%s -> http://%s; metadata http://%s", *storage, *backend, *metadata)
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go relay(conn, *backend, *token)
	}
}

// metadataServer: the paths of the GCE/GKE metadata server that the clients above and google-auth
// (Beam's GCS I/O) read (https://cloud.google.com/compute/docs/metadata/querying-metadata: every
// request must carry "Metadata-Flavor: Google", and every answer does).
func metadataServer(token, account string) http.Handler {
	project := strings.SplitN(strings.SplitN(account, "@", 2)[1], ".", 2)[0]
	scope := "https://www.googleapis.com/auth/cloud-platform"
	answers := map[string]string{
		"/computeMetadata/v1/project/project-id":       project,
		"/computeMetadata/v1/universe/universe-domain": "googleapis.com",
	}
	for _, name := range []string{"default", account} { // the account, by alias and by email
		sa := "/computeMetadata/v1/instance/service-accounts/" + name + "/"
		answers[sa+"token"] = fmt.Sprintf(`{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, token)
		answers[sa+"email"] = account
		answers[sa+"scopes"] = scope + "\n"
		answers[sa+"?recursive=true"] = fmt.Sprintf(`{"aliases":["default"],"email":%q,"scopes":[%q]}`, account, scope)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		if r.URL.Path == "/" { // cloud.google.com/go/compute/metadata's OnGCE probe
			return
		}
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "Missing Metadata-Flavor:Google header.", http.StatusForbidden)
			return
		}
		key := r.URL.Path
		if r.URL.Query().Get("recursive") == "true" {
			key += "?recursive=true"
		}
		answer, ok := answers[key]
		if !ok {
			log.Printf("metadata: REFUSED %s %s", r.Method, r.URL)
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(answer, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		io.WriteString(w, answer)
	})
}

// relay forwards each request of one TLS connection to the backend, through net/http once its
// head is repaired.
func relay(conn net.Conn, backend, token string) {
	defer conn.Close()
	in := bufio.NewReader(conn)
	transport := &http.Transport{DisableCompression: true}
	defer transport.CloseIdleConnections()
	for {
		req, err := readRequest(in)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Printf("storage: %v", err)
			}
			return
		}
		var resp *http.Response
		if strings.Split(req.Host, ":")[0] == iamHost {
			resp = iamCredentials(req)
		} else if req.Header.Get("Authorization") != "Bearer "+token {
			log.Printf("storage: REFUSED %s %s without the metadata server's token", req.Method, req.URL)
			resp = &http.Response{StatusCode: http.StatusUnauthorized, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"error":{"code":401,"message":"Invalid Credentials"}}`))}
			_, _ = io.Copy(io.Discard, req.Body)
		} else {
			if req.Method == http.MethodPost && req.URL.Path == "/batch/storage/v1" {
				if err := numberBatchParts(req); err != nil {
					log.Printf("storage: batch: %v", err)
					return
				}
			}
			req.URL.Scheme, req.URL.Host, req.RequestURI = "http", backend, ""
			req.Header.Set("X-Forwarded-Proto", "https") // resumable-upload Locations name https://<Host>
			if resp, err = transport.RoundTrip(req); err != nil {
				log.Printf("storage: %s %s: %v", req.Method, req.URL, err)
				return
			}
		}
		err = resp.Write(conn)
		resp.Body.Close()
		if err != nil || req.Close {
			return
		}
	}
}

// numberBatchParts gives each part of a batch request without a Content-ID one, in order.
func numberBatchParts(req *http.Request) error {
	_, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	in := multipart.NewReader(req.Body, params["boundary"])
	var body bytes.Buffer
	out := multipart.NewWriter(&body)
	if err := out.SetBoundary(params["boundary"]); err != nil {
		return err
	}
	for n := 1; ; n++ {
		part, err := in.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		header := part.Header
		if header.Get("Content-ID") == "" {
			header.Set("Content-ID", fmt.Sprintf("<part+%d>", n))
		}
		w, err := out.CreatePart(header)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, part); err != nil {
			return err
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	req.Body, req.ContentLength, req.TransferEncoding = io.NopCloser(&body), int64(body.Len()), nil
	req.Header.Set("Content-Length", strconv.Itoa(body.Len()))
	return nil
}

const iamHost = "iamcredentials.googleapis.com"

func iamCredentials(req *http.Request) *http.Response {
	_, _ = io.Copy(io.Discard, req.Body)
	answer := &http.Response{StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(`{"locations":[],"encodedLocations":"0x0"}`))}
	if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/allowedLocations") {
		log.Printf("iamcredentials: REFUSED %s %s", req.Method, req.URL)
		answer.StatusCode, answer.Body = http.StatusNotFound, io.NopCloser(strings.NewReader(`{"error":{"code":404}}`))
	}
	return answer
}

// readRequest parses one request head itself (net/http would refuse the identity encoding) and
// gives the request its body: chunked, or Content-Length bytes.
func readRequest(in *bufio.Reader) (*http.Request, error) {
	tp := textproto.NewReader(in)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	header, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	chunked := false
	if te := header.Get("Transfer-Encoding"); strings.EqualFold(te, "identity") {
		header.Del("Transfer-Encoding")
	} else if te != "" {
		chunked = strings.EqualFold(te, "chunked")
		header.Del("Transfer-Encoding")
	}
	var head strings.Builder
	head.WriteString(line + "\r\n")
	for name, values := range header {
		for _, v := range values {
			head.WriteString(name + ": " + v + "\r\n")
		}
	}
	head.WriteString("\r\n")
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
	if err != nil {
		return nil, err
	}
	if chunked {
		req.Body, req.ContentLength, req.TransferEncoding = &chunkedBody{httputil.NewChunkedReader(in), tp}, -1, []string{"chunked"}
	} else {
		n, _ := strconv.ParseInt(header.Get("Content-Length"), 10, 64)
		req.Body, req.ContentLength = io.NopCloser(io.LimitReader(in, n)), n
	}
	return req, nil
}

// chunkedBody reads a chunked body, then its trailer section up to the empty line
// (httputil.NewChunkedReader stops at the last chunk), so the next request starts where it should.
type chunkedBody struct {
	io.Reader
	tp *textproto.Reader
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if errors.Is(err, io.EOF) {
		if _, terr := b.tp.ReadMIMEHeader(); terr != nil {
			err = terr
		}
		b.Reader = strings.NewReader("")
	}
	return n, err
}

func (b *chunkedBody) Close() error { return nil }
