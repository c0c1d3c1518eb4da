# Kubeflow Pipelines 2.17 on the local cluster (sourced by cluster.sh; `serve --kfp KFP_TOOLS`).
#
# KFP's own programs, built from KFP_SRC by kubeflow/kfp_go/build.sh: the API server and the
# persistence agent run on the node, as the control plane does; the driver and the launcher are
# images the API server's compiler names (V2_DRIVER_IMAGE, V2_LAUNCHER_IMAGE). Beside them, what
# KFP's manifests deploy (manifests/kustomize/base at tag 2.17.0), each from what is served here:
#   MySQL                   MariaDB from Debian (mariadbd), database mlpipeline, user kfp
#   metadata-grpc-service   ML Metadata's gRPC service over the MLMD library (kubeflow/mlmd_service.py;
#                           no MLMD server binary is published for this platform)
#   the pipeline root       gs:// on fake-gcs-server behind gcpfront (storage.googleapis.com, on the
#                           node) and GKE's metadata server at 169.254.169.254 (the pods' token),
#                           both from kfp_go; CoreDNS resolves Google's names to them
# Pods reach the node's services through selector-less Services (ml-pipeline, metadata-grpc-service),
# by the names the API server's compiler gives them (backend/src/v2/config/env.go, metadata/env.go).
# They trust the cluster's CA for Google's names: a MutatingAdmissionPolicy mounts it over the CA
# bundle of every workflow pod's main container (ca_policy).

KFP_DB_PASSWORD=
MLMD_PORT=8080
GCS_BACKEND_PORT=4443
METADATA_IP=169.254.169.254
GCP_SERVICE_ACCOUNT=kfp-pipeline-runner@imdb-local.iam.gserviceaccount.com
KFP_VERSION=2.17.0
PERSISTENCE_TOKEN_DIR=/var/run/secrets/kubeflow/tokens  # hard-coded in KFP (client/tokenrefresher)

# An HTTP GET of http://HOST:PORT/PATH answers 200 (no curl in the userland).
http_ok() (  # a subshell: a failed connection ends it alone
    local status
    exec 3<>"/dev/tcp/$1/$2" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
    read -r _ status _ <&3
    exec 3<&-
    [ "$status" = 200 ]
)

kfp_image() { echo "localhost/imdb-kfp/kfp-$1:$KFP_VERSION"; }

# The node's addresses and certificates for Google's endpoints, before kubelet starts pods.
kfp_network() {
    ip address add "$METADATA_IP/32" dev lo
    local pki=$state/pki
    (
        cd "$pki"
        printf '[google]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n%s\n%s\n%s\n' \
            'extendedKeyUsage = serverAuth' 'authorityKeyIdentifier = keyid' \
            'subjectAltName = DNS:storage.googleapis.com,DNS:www.googleapis.com,DNS:iamcredentials.googleapis.com' \
            >google.cnf
        openssl req -new -nodes -newkey rsa:2048 -keyout google.key -out google.csr -subj /CN=storage.googleapis.com \
            2>/dev/null
        openssl x509 -req -in google.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out google.crt -days 30 \
            -extfile google.cnf -extensions google 2>/dev/null
    )
}

# The Cloud Storage stand-in and the metadata server, seeded from GCS_SEED (a folder whose first
# level is buckets), if given.
start_google() {
    local seed=${GCS_SEED:-$state/gcs-seed}
    mkdir -p "$seed"
    start fake-gcs-server "$KFP_TOOLS/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$GCS_BACKEND_PORT" \
        -backend memory -data "$seed" -public-host storage.googleapis.com -external-url https://www.googleapis.com \
        -log-level warn
    wait_for fake-gcs-server 60 "$state/logs/fake-gcs-server.log" port_open 127.0.0.1 "$GCS_BACKEND_PORT"
    start gcpfront "$KFP_TOOLS/gcpfront" -storage-listen "$NODE_IP:443" -backend "127.0.0.1:$GCS_BACKEND_PORT" \
        -metadata-listen "$METADATA_IP:80" -cert "$state/pki/google.crt" -key "$state/pki/google.key" \
        -token "$(openssl rand -hex 24)" -service-account "$GCP_SERVICE_ACCOUNT"
    wait_for gcpfront 60 "$state/logs/gcpfront.log" port_open "$NODE_IP" 443
}

start_mariadb() {
    local data=$state/mysql
    KFP_DB_PASSWORD=$(openssl rand -hex 16)
    mariadb-install-db --no-defaults --user=root --datadir="$data" --auth-root-authentication-method=socket \
        --skip-test-db >"$state/logs/mariadb-install.log" 2>&1 \
        || die "mariadb-install-db failed; see $state/logs/mariadb-install.log"
    printf "CREATE USER 'kfp'@'127.0.0.1' IDENTIFIED BY '%s';\nGRANT ALL ON mlpipeline.* TO 'kfp'@'127.0.0.1';\n" \
        "$KFP_DB_PASSWORD" >"$state/run/mariadb-init.sql"
    start mariadb mariadbd --no-defaults --user=root --datadir="$data" --socket="$state/run/mariadb.sock" \
        --pid-file="$state/run/mariadb.pid" --bind-address=127.0.0.1 --port=3306 --skip-name-resolve \
        --init-file="$state/run/mariadb-init.sql"
    wait_for MariaDB 60 "$state/logs/mariadb.log" port_open 127.0.0.1 3306
}

# A Service of the cluster for a program on the node: no selector, one EndpointSlice at NODE_IP.
node_service() {
    local name=$1; shift
    local ports=() port
    for port in "$@"; do  # NAME:PORT, the same in the Service and its EndpointSlice
        ports+=("{name: ${port%%:*}, port: ${port#*:}, protocol: TCP}")
    done
    kubectl_in "$state" apply -n kubeflow -f - <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name}
spec: {ports: [$(IFS=,; echo "${ports[*]}")]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $name-node, labels: {kubernetes.io/service-name: $name}}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports: [$(IFS=,; echo "${ports[*]}")]
EOF
}

# What the run's pods meet in namespace kubeflow, as KFP's manifests install it: the pipeline-runner
# service account (pipeline-runner-role.yaml: the rules KFP's driver and launcher use, and Argo's
# executor's own on workflowtaskresults), the kfp-launcher and metadata-grpc-configmap config maps,
# the Services; and the cluster's CA, which every workflow pod gets (ca_policy).
kfp_objects() {  # called as `kfp_objects || die`, where set -e does not stop it: each step returns
    # The ScheduledWorkflow CRD, which the persistence agent watches and the API server writes
    # recurring runs to: KFP_SRC's backend/src/crd/install/manifests/scheduledworkflow-crd.yaml (names,
    # group, version), as apiextensions.k8s.io/v1 (that file's v1beta1 API left Kubernetes in 1.22),
    # its schema left open as the file's is.
    kubectl_in "$state" apply -f - <<EOF || return
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: scheduledworkflows.kubeflow.org}
spec:
  group: kubeflow.org
  scope: Namespaced
  names: {kind: ScheduledWorkflow, listKind: ScheduledWorkflowList, plural: scheduledworkflows,
          singular: scheduledworkflow, shortNames: [swf]}
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
EOF
    kubectl_in "$state" apply -n kubeflow -f - <<EOF || return
apiVersion: v1
kind: ServiceAccount
metadata: {name: pipeline-runner}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ml-pipeline-persistenceagent}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pipeline-runner}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
- {apiGroups: [""], resources: [configmaps], verbs: [get, watch, list]}
- {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch]}
- {apiGroups: [argoproj.io], resources: [workflows], verbs: [get, list, watch, update, patch]}
- {apiGroups: [argoproj.io], resources: [workflowtaskresults], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pipeline-runner-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pipeline-runner}
subjects: [{kind: ServiceAccount, name: pipeline-runner, namespace: kubeflow}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kfp-launcher}
data: {defaultPipelineRoot: ""}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: metadata-grpc-configmap}
data: {METADATA_GRPC_SERVICE_HOST: metadata-grpc-service, METADATA_GRPC_SERVICE_PORT: "$MLMD_PORT"}
EOF
    kubectl_in "$state" create configmap -n kubeflow imdb-local-ca --from-file=ca.crt="$state/pki/ca.crt" || return
    ca_policy || return
    node_service ml-pipeline http:8888 grpc:8887 || return
    node_service metadata-grpc-service grpc-api:$MLMD_PORT
}

# Every container named main of a workflow's pod in namespace kubeflow (KFP's driver and task
# containers) gets the cluster's CA as its whole CA bundle, where Go, curl (TensorFlow's GCS client)
# and the image's REQUESTS_CA_BUNDLE read it: only this CA is trusted, so a TLS peer the cluster did
# not certify is refused. A MutatingAdmissionPolicy (Kubernetes' own, in CEL, no webhook server), not
# KFP's COMPILED_PIPELINE_SPEC_PATCH: with that patch set, KFP 2.17's API server can die when runs are
# created at once ("fatal error: concurrent map writes"; docs/kubeflow.md, measured).
ca_policy() {
    kubectl_in "$state" apply -f - <<EOF
apiVersion: admissionregistration.k8s.io/v1beta1
kind: MutatingAdmissionPolicy
metadata: {name: imdb-local-ca}
spec:
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kubeflow}}
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
  matchConditions:
  - name: a-workflow-pod-with-a-main-container
    expression: >-
      has(object.metadata.labels) && 'workflows.argoproj.io/workflow' in object.metadata.labels
      && object.spec.containers.exists(c, c.name == 'main')
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
  - patchType: ApplyConfiguration
    applyConfiguration:
      expression: >-
        Object{spec: Object.spec{
          volumes: [Object.spec.volumes{name: "imdb-local-ca",
                                        configMap: Object.spec.volumes.configMap{name: "imdb-local-ca"}}],
          containers: [Object.spec.containers{name: "main", volumeMounts: [Object.spec.containers.volumeMounts{
            name: "imdb-local-ca", mountPath: "/etc/ssl/certs/ca-certificates.crt", subPath: "ca.crt",
            readOnly: true}]}]}}
---
apiVersion: admissionregistration.k8s.io/v1beta1
kind: MutatingAdmissionPolicyBinding
metadata: {name: imdb-local-ca}
spec: {policyName: imdb-local-ca}
EOF
}

install_kfp() {
    say "installing Kubeflow Pipelines $KFP_VERSION in namespace kubeflow"
    local log=$state/logs/kfp-install.log
    kfp_objects >"$log" 2>&1 || die "creating KFP's objects failed; see $log"
    start_google
    start_mariadb
    start mlmd python -m kubeflow.mlmd_service --db "$state/mlmd.sqlite" --host "$NODE_IP" --port "$MLMD_PORT"
    wait_for "ML Metadata's service" 60 "$state/logs/mlmd.log" port_open "$NODE_IP" "$MLMD_PORT"
    # The API server: KFP's config.json, with the settings upstream's Deployment gives it by
    # environment (viper: a key's path, upper-cased, dots as underscores).
    mkdir -p "$state/kfp-home/.kube" && cp "$state/admin.kubeconfig" "$state/kfp-home/.kube/config"
    start kfp-apiserver env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u NO_PROXY -u no_proxy \
        HOME="$state/kfp-home" KUBECONFIG="$state/admin.kubeconfig" POD_NAMESPACE=kubeflow \
        DBCONFIG_MYSQLCONFIG_HOST=127.0.0.1 DBCONFIG_MYSQLCONFIG_PORT=3306 DBCONFIG_MYSQLCONFIG_USER=kfp \
        DBCONFIG_MYSQLCONFIG_PASSWORD="$KFP_DB_PASSWORD" INITCONNECTIONTIMEOUT=60s CACHEENABLED=false \
        OBJECTSTORECONFIG_HOST=127.0.0.1 OBJECTSTORECONFIG_PORT=9000 OBJECTSTORECONFIG_SECURE=false \
        V2_DRIVER_IMAGE="$(kfp_image driver)" V2_LAUNCHER_IMAGE="$(kfp_image launcher)" \
        ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_HOST=127.0.0.1 ML_PIPELINE_VISUALIZATIONSERVER_SERVICE_PORT=8889 \
        PUBLISH_LOGS=true \
        "$KFP_TOOLS/apiserver" --config="$KFP_TOOLS/apiserver-config" -logtostderr=true
    wait_for "KFP's API server" 120 "$state/logs/kfp-apiserver.log" \
        http_ok 127.0.0.1 8888 /apis/v1beta1/healthz
    # The persistence agent reports workflows' states to the API server with a service account's
    # token (audience pipelines.kubeflow.org) at a path KFP fixes; a tmpfs of this mount namespace.
    mkdir -p "$PERSISTENCE_TOKEN_DIR" && mount -t tmpfs -o size=1m tmpfs "$PERSISTENCE_TOKEN_DIR"
    kubectl_in "$state" create token ml-pipeline-persistenceagent -n kubeflow --audience=pipelines.kubeflow.org \
        --duration=24h >"$PERSISTENCE_TOKEN_DIR/persistenceagent-sa-token" 2>>"$log" \
        || die "no token for the persistence agent; see $log"
    start kfp-persistenceagent env KUBECONFIG="$state/admin.kubeconfig" "$KFP_TOOLS/persistence" \
        --kubeconfig="$state/admin.kubeconfig" --namespace=kubeflow --mlPipelineAPIServerName=127.0.0.1 \
        --ttlSecondsAfterWorkflowFinish=86400 --numWorker=2 --executionType=Workflow --logtostderr=true
    say "KFP's API server listens on http://$NODE_IP:8888"
}

# The cluster's DNS (kubelet's clusterDNS): the cluster's names from the API server, Google's
# endpoints at their stand-ins on the node; nothing else resolves.
start_dns() {
    cat >"$state/Corefile" <<EOF
.:53 {
    errors
    health 127.0.0.1:8180
    ready 127.0.0.1:8181
    hosts {
        $NODE_IP storage.googleapis.com www.googleapis.com iamcredentials.googleapis.com
        $METADATA_IP metadata.google.internal
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/admin.kubeconfig imdb-kfp-local
        pods insecure
    }
}
EOF
    start coredns "$TOOLS/coredns" -conf "$state/Corefile"
    wait_for CoreDNS 60 "$state/logs/coredns.log" http_ok 127.0.0.1 8181 /ready
}
