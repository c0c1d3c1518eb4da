#!/usr/bin/env bash
# A single-node Kubernetes cluster on this machine, from what the registries serve: the control
# plane, kubelet, kube-proxy and etcd that build.sh builds, containerd, runc, iptables and the CNI
# plugins from Debian (env/userland-tools.txt), CoreDNS as its DNS, with --argo Argo Workflows'
# controller (kubeflow/argo/build.sh) and with --kfp Kubeflow Pipelines (kfp.sh, from
# kubeflow/kfp_go/build.sh). Runs as root in the Debian 13 userland (./imdb kfp-local up runs it).
#
#   cluster.sh serve STATE TOOLS [--argo ARGO_TOOLS [--kfp KFP_TOOLS [--gcs-seed DIR]]] [IMAGE.tar ...]
#                                                  bring it up, load the images (install Argo, KFP),
#                                                  then run until SIGTERM/SIGINT; STATE/ready
#                                                  once it is usable
#   cluster.sh kubectl STATE [ARGS]                kubectl against it (in its network namespace)
#   cluster.sh clean STATE                         remove what a stopped cluster left (serve does)
#   cluster.sh cgroup-root STATE                   the cgroup folder of its pods (in each hierarchy)
#
# Networking stays inside a network namespace made here (bound at STATE/netns, so that kubectl
# and the tests can enter it): the node's address 10.200.0.1 on a veth pair whose both ends are
# inside, the pods on a bridge behind it, and a default route that leads nowhere, so that nothing
# reaches past this machine. Everything runs in a PID and mount namespace of its own: when serve
# ends, every process it started (the pods too) and every mount it made go with it; it then
# removes the cgroups kubelet made (under /imdb-kfp-<id> of each cgroup v1 hierarchy).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE=imdb-node
NODE_IP=10.200.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API=https://$NODE_IP:6443
PAUSE_IMAGE=localhost/imdb-kfp/pause:1
# Argo's namespace: where KFP's manifests put it.
ARGO_NAMESPACE=kubeflow

source "$here/kfp.sh"

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Waits up to SECONDS for "$@" to succeed; on time-out names what it waited for and its log.
wait_for() {
    local what=$1 seconds=$2 log=$3; shift 3
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "$what not ready after ${seconds} s; see $log"
        local i
        for i in "${!pids[@]}"; do
            kill -0 "${pids[$i]}" 2>/dev/null || die "${names[$i]} exited; see $state/logs/${names[$i]}.log"
        done
        sleep 0.5
    done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

kubectl_in() { local state=$1; shift; KUBECONFIG=$state/admin.kubeconfig "$TOOLS/kubectl" "$@"; }

# The cluster's own certificate authority; one certificate serves the API server and kubelet
# (names and addresses of both), another is the API server's client certificate towards kubelet.
# Tokens (the API server's --token-auth-file) authenticate the admin, the node and kube-proxy (user
# system:kube-proxy, which Kubernetes' default ClusterRoleBinding system:node-proxier covers).
make_credentials() {
    local state=$1 pki=$1/pki
    mkdir -p "$pki"
    cat >"$pki/openssl.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE,IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,IP:$NODE_IP
EOF
    (
        cd "$pki"
        openssl req -x509 -new -nodes -newkey rsa:2048 -keyout ca.key -out ca.crt -days 30 \
            -subj /CN=imdb-kfp-local -config openssl.cnf -extensions ca 2>/dev/null
        openssl req -new -nodes -newkey rsa:2048 -keyout server.key -out server.csr -subj /CN=kube-apiserver \
            -config openssl.cnf 2>/dev/null
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 \
            -extfile openssl.cnf -extensions server 2>/dev/null
        # The API server's identity towards kubelet (logs, exec), as kubeadm's apiserver-kubelet-client.
        openssl req -new -nodes -newkey rsa:2048 -keyout kubelet-client.key -out kubelet-client.csr \
            -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -config openssl.cnf 2>/dev/null
        openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt \
            -days 30 -extfile openssl.cnf -extensions client 2>/dev/null
        openssl genrsa -out service-accounts.key 2048 2>/dev/null
        openssl rsa -in service-accounts.key -pubout -out service-accounts.pub 2>/dev/null
    )
    local admin node proxy
    admin=$(openssl rand -hex 16) node=$(openssl rand -hex 16) proxy=$(openssl rand -hex 16)
    printf '%s,admin,admin,system:masters\n%s,system:node:%s,%s,system:nodes\n%s,system:kube-proxy,kube-proxy\n' \
        "$admin" "$node" "$NODE" "$NODE" "$proxy" >"$pki/tokens.csv"
    kubeconfig "$state/admin.kubeconfig" "$admin"
    kubeconfig "$state/kubelet.kubeconfig" "$node"
    kubeconfig "$state/kube-proxy.kubeconfig" "$proxy"
}

kubeconfig() {
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: imdb-kfp-local
  cluster: {server: "$API", certificate-authority: "$(dirname "$1")/pki/ca.crt"}
users:
- name: user
  user: {token: "$2"}
contexts:
- name: imdb-kfp-local
  context: {cluster: imdb-kfp-local, user: user}
current-context: imdb-kfp-local
EOF
}

write_configs() {
    local state=$1 cgroup_root=$2
    mkdir -p "$state/cni"
    # The bridge plugin alone: pods reach each other and the node; no masquerade (nothing beyond).
    cat >"$state/cni/10-imdb-pods.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "imdb-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
EOF
    # restrict_oom_score_adj: this sandbox lacks CAP_SYS_RESOURCE, so runc may not lower a process's
    # OOM score below containerd's own (the pause container asks for -998): containerd caps it
    # there, as it does for rootless containerd (its CRI plugin's documented option).
    cat >"$state/containerd.toml" <<EOF
version = 2
root = "$state/containerd"
state = "$state/run/containerd"
[grpc]
  address = "$state/run/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$state/run/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni"
EOF
    # cgroup v1 with the cgroupfs driver (what this machine has); every pod under CGROUP_ROOT.
    # Swap is on here and nothing to evict for: a test node, not a production one.
    cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$state/run/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
failSwapOn: false
address: $NODE_IP
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $state/pki/server.crt
tlsPrivateKeyFile: $state/pki/server.key
podLogsDirectory: $state/pod-logs
clusterDomain: cluster.local
clusterDNS: [$NODE_IP]
resolvConf: ""
evictionHard: {}
imageGCHighThresholdPercent: 100
makeIPTablesUtilChains: false
EOF
}

# The node's network, inside the namespace: lo, and NODE_IP on one end of a veth pair whose other
# end is inside too, with a default route to an address nobody has (kubelet and the API server
# pick their addresses from the default route's interface).
node_network() {
    [ "$(ip -o link show | wc -l)" = 1 ] || die "the network namespace $state/netns is in use: it has more than lo"
    ip link set lo up
    ip link add node0 type veth peer name node1
    ip addr add "$NODE_IP/24" dev node0
    ip link set node0 up
    ip link set node1 up
    ip route add default via "${NODE_IP%.*}.254" dev node0 onlink
    sysctl -qw net.ipv4.ip_forward=1
}

# Starts "$@" in the background, its output to STATE/logs/NAME.log; remembers its pid.
start() {
    local name=$1; shift
    "$@" >"$state/logs/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
}

stop_all() {
    local i
    trap - TERM INT
    # KFP's API server outlives SIGTERM: it only cancels its background work, and its HTTP proxy
    # blocks for good (backend/src/apiserver/main.go, startHTTPProxy): killed at once, not waited out.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        if [ "${names[$i]}" = kfp-apiserver ]; then kill -KILL "${pids[$i]}"; else kill "${pids[$i]}"; fi 2>/dev/null || true
    done
    # Whatever else still runs after 20 s is killed.
    (sleep 20; kill -KILL "${pids[@]}" 2>/dev/null) &
    local reaper=$!
    wait "${pids[@]}" 2>/dev/null || true
    kill "$reaper" 2>/dev/null || true
}

# Inside the new namespaces (the second half of serve).
run_cluster() {
    local images=("$@") cgroups
    cgroups=$(cgroup_root "$state")
    pids=() names=()
    trap 'stop_all; exit 0' TERM INT
    mkdir -p "$state/logs" "$state/run"
    node_network
    make_credentials "$state"
    if [ -n "$KFP_TOOLS" ]; then kfp_network; fi
    write_configs "$state" "$cgroups"
    make_cgroups "$cgroups"
    say "starting etcd, containerd, the control plane and kubelet (logs: $state/logs)"
    start etcd "$TOOLS/etcd" --data-dir "$state/etcd" --listen-client-urls http://127.0.0.1:2379 \
        --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
        --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380
    start containerd containerd --config "$state/containerd.toml"
    wait_for etcd 60 "$state/logs/etcd.log" port_open 127.0.0.1 2379
    local pki=$state/pki
    start kube-apiserver "$TOOLS/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
        --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port=6443 \
        --tls-cert-file="$pki/server.crt" --tls-private-key-file="$pki/server.key" \
        --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
        --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction,MutatingAdmissionPolicy \
        --feature-gates=MutatingAdmissionPolicy=true --runtime-config=admissionregistration.k8s.io/v1beta1=true \
        --service-cluster-ip-range="$SERVICE_CIDR" --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$pki/service-accounts.pub" \
        --service-account-signing-key-file="$pki/service-accounts.key" \
        --kubelet-certificate-authority="$pki/ca.crt" --kubelet-client-certificate="$pki/kubelet-client.crt" \
        --kubelet-client-key="$pki/kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
        --allow-privileged=true
    wait_for kube-apiserver 120 "$state/logs/kube-apiserver.log" kubectl_in "$state" get --raw /readyz
    start_dns
    start kube-controller-manager "$TOOLS/kube-controller-manager" --kubeconfig="$state/admin.kubeconfig" \
        --service-account-private-key-file="$pki/service-accounts.key" --root-ca-file="$pki/ca.crt" \
        --use-service-account-credentials=true --bind-address=127.0.0.1 --leader-elect=false
    start kube-scheduler "$TOOLS/kube-scheduler" --kubeconfig="$state/admin.kubeconfig" \
        --bind-address=127.0.0.1 --leader-elect=false
    # The images before kubelet: the pod sandbox's first of all.
    wait_for containerd 60 "$state/logs/containerd.log" ctr --address "$state/run/containerd.sock" version
    local image
    for image in "${images[@]}"; do
        say "loading $(basename "$image") into containerd"
        # The unpacked layers only: the archive's copy in the content store would double the disk used.
        ctr --address "$state/run/containerd.sock" -n k8s.io images import --discard-unpacked-layers "$image" \
            >/dev/null \
            || die "containerd could not import $image"
    done
    start kubelet "$TOOLS/kubelet" --config="$state/kubelet.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
        --hostname-override="$NODE" --node-ip="$NODE_IP" --root-dir="$state/kubelet"
    wait_for "node $NODE" 120 "$state/logs/kubelet.log" \
        kubectl_in "$state" wait --for=condition=Ready "node/$NODE" --timeout=1s
    # Service addresses (10.96.0.1, the API server's, which pods' clients use) routed to their
    # endpoints by iptables rules in the namespace; pods find them by name through CoreDNS too.
    # --conntrack-max-per-core 0: leave the kernel's conntrack table size alone (a sysctl shared
    # with the host); --nodeport-addresses primary: node ports on the node's address only.
    start kube-proxy "$TOOLS/kube-proxy" --kubeconfig="$state/kube-proxy.kubeconfig" --hostname-override="$NODE" \
        --cluster-cidr="$POD_CIDR" --proxy-mode=iptables --conntrack-max-per-core=0 \
        --nodeport-addresses=primary --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
    wait_for "the default service account" 60 "$state/logs/kube-controller-manager.log" \
        kubectl_in "$state" get serviceaccount default
    wait_for "kube-proxy's rule for the kubernetes Service" 60 "$state/logs/kube-proxy.log" kubernetes_routed
    if [ -n "$ARGO_TOOLS" ]; then install_argo; fi
    if [ -n "$KFP_TOOLS" ]; then install_kfp; fi
    touch "$state/ready"
    say "ready: ./imdb kfp-local kubectl get pods -A"
    # Any daemon that ends ends the cluster: a half-running node is worse than a stopped one.
    local status=0 ended
    wait -n -p ended "${pids[@]}" || status=$?
    report_ended "$ended" "$status"
    stop_all
    exit 1
}

# Names the daemon whose pid is PID and shows why it ended: the tests print serve's output when the
# cluster stops early, so a CI log says which daemon died and why. Status 2 is mostly a Go panic,
# whose cause is the dump's first lines (the panicking goroutine), not its last.
report_ended() {
    local pid=$1 status=$2 i log panic_line
    for i in "${!pids[@]}"; do
        [ "${pids[$i]}" = "$pid" ] || continue
        log=$state/logs/${names[$i]}.log
        say "${names[$i]} exited (status $status); stopping; from $log:"
        panic_line=$(grep -n -m 1 -E '^(panic: |fatal error: )' "$log" | cut -d: -f1) || true
        if [ -n "$panic_line" ]; then
            tail -n +$((panic_line > 5 ? panic_line - 5 : 1)) "$log" | head -n 40
        else
            tail -n 40 "$log"
        fi | sed 's/^/    /' >&2
        return
    done
    say "a daemon exited (status $status); stopping (logs: $state/logs)"
}

kubernetes_routed() { iptables -t nat -S KUBE-SERVICES | grep -q 'default/kubernetes:https cluster IP'; }

# Argo Workflows as upstream's namespace-install has it, in ARGO_NAMESPACE: the CRDs, the
# controller's and the executor's RBAC (copied from the module's manifests by kubeflow/argo/build.sh)
# and the controller's Deployment (manifests/base/workflow-controller/workflow-controller-deployment.yaml
# with namespace-install's --namespaced, the local images, no priority class, the uid of
# upstream's image and a test cluster's re-queue time); ready once the controller holds its leader
# lease, which it takes through the kubernetes Service.
install_argo() {
    say "installing Argo Workflows $ARGO_VERSION in namespace $ARGO_NAMESPACE"
    local log=$state/logs/argo-install.log
    {
        kubectl_in "$state" create namespace "$ARGO_NAMESPACE"
        kubectl_in "$state" apply -f "$ARGO_TOOLS/manifests/crds"
        kubectl_in "$state" wait --for=condition=Established --timeout=60s -f "$ARGO_TOOLS/manifests/crds"
        kubectl_in "$state" apply -n "$ARGO_NAMESPACE" -f "$ARGO_TOOLS/manifests/rbac"
        kubectl_in "$state" apply -n "$ARGO_NAMESPACE" -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: workflow-controller}
spec:
  selector: {matchLabels: {app: workflow-controller}}
  template:
    metadata: {labels: {app: workflow-controller}}
    spec:
      serviceAccountName: argo
      securityContext: {runAsNonRoot: true, runAsUser: 8737}
      containers:
      - name: workflow-controller
        image: $(argo_image workflow-controller)
        imagePullPolicy: Never
        command: [workflow-controller]
        args: [--namespaced, --executor-image, $(argo_image argoexec), --executor-image-pull-policy, Never]
        env:
        - name: LEADER_ELECTION_IDENTITY
          valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}
        # 1 s, not 10: the workflow queue's re-queue time, which each step of a run waits out (KFP's
        # driver pods take seconds); what Argo's own test setup uses (its Makefile, "by keeping this
        # short we speed up tests"; workflow/controller/rate_limiters.go: 1 s is the floor).
        - name: DEFAULT_REQUEUE_TIME
          value: 1s
        securityContext:
          readOnlyRootFilesystem: true
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        ports: [{name: metrics, containerPort: 9090}, {containerPort: 6060}]
EOF
    } >"$log" 2>&1 || die "installing Argo failed; see $log"
    wait_for "Argo's workflow-controller (its leader lease)" 120 "$state/logs/argo-install.log" \
        kubectl_in "$state" get -n "$ARGO_NAMESPACE" lease workflow-controller
    say "Argo's workflow-controller is running"
}

argo_image() { echo "localhost/imdb-kfp/$1:$ARGO_VERSION"; }

# Where kubelet puts the pods in each cgroup hierarchy: one folder per STATE, so that two clusters
# (a user's and a test's) never share one.
cgroup_root() { printf 'imdb-kfp-%s' "$(printf %s "$1" | sha256sum | cut -c1-8)"; }

# kubelet wants its cgroup root in every hierarchy; cpuset's new folders start with no CPU and
# no memory node, so they get the parent's.
make_cgroups() {
    local hierarchy
    for hierarchy in /sys/fs/cgroup/*/; do
        mkdir -p "$hierarchy$1"
        if [ -f "${hierarchy}cpuset.cpus" ]; then
            cat "${hierarchy}cpuset.cpus" >"$hierarchy$1/cpuset.cpus"
            cat "${hierarchy}cpuset.mems" >"$hierarchy$1/cpuset.mems"
        fi
    done
}

# After the namespaces' processes are gone: the kernel frees a cgroup only once its last task has
# exited, a moment after the namespace's first process did.
remove_cgroups() {
    local hierarchy deadline=$((SECONDS + 30)) left
    while :; do
        left=0
        for hierarchy in /sys/fs/cgroup/*/; do
            [ -d "$hierarchy$1" ] || continue
            find "$hierarchy$1" -depth -type d -exec rmdir {} + 2>/dev/null || left=1
        done
        [ $left = 0 ] && return 0
        [ $SECONDS -lt $deadline ] || { say "warning: could not remove the cgroups /sys/fs/cgroup/*/$1"; return 1; }
        sleep 0.5
    done
}

# A static PROGRAM alone in an image IMAGE, saved as ARCHIVE, built with podman (no registry serves
# registry.k8s.io's or quay.io's images): the sandbox image every pod's namespaces are held by
# (containerd's sandbox_image) and Argo's two. FROM scratch, at /bin with PATH=/bin (Argo's
# controller runs the executor as `argoexec`, found on PATH, as in upstream's image) and a /tmp;
# with USER, a numeric user: KFP's runs are non-root pods, which kubelet checks against it.
program_image() {
    local archive=$1 image=$2 program=$3 user=${4:-} context name
    context=$(mktemp -d) name=$(basename "$program")
    # COPY of a folder's contents keeps their modes, not the folder's: /tmp (1777) comes inside root/.
    mkdir -p "$context/root/bin" "$context/root/tmp" && chmod 1777 "$context/root/tmp"
    cp "$program" "$context/root/bin/"
    rm -f "$archive"  # podman's docker-archive refuses to add to an existing one
    printf 'FROM scratch\nCOPY root/ /\nENV PATH=/bin\n%bENTRYPOINT ["/bin/%s"]\n' "${user:+USER $user\n}" "$name" \
        >"$context/Containerfile"
    local podman=(podman --root "$context/storage" --runroot "$context/run" --storage-driver=vfs
                  --cgroup-manager=cgroupfs)
    "${podman[@]}" build --quiet --isolation=chroot -t "$image" "$context" >/dev/null 2>&1 \
        && "${podman[@]}" save --quiet --format docker-archive -o "$archive" "$image" 2>/dev/null \
        || { rm -rf "$context"; die "podman could not build the image $image"; }
    rm -rf "$context"
}

# What a cluster leaves once its processes are gone: kubelet's cgroups, the network namespace's
# binding, its data (containerd's copy of the images: gigabytes). The logs stay, for a look after.
clean() {
    rm -f "$1/ready"
    remove_cgroups "$(cgroup_root "$1")" || return 1
    if mountpoint -q "$1/netns" 2>/dev/null; then umount "$1/netns"; fi
    remove_data "$1"
}

remove_data() {
    rm -rf "$1"/{etcd,containerd,kubelet,pod-logs,pki,run,cni,containerd.toml,kubelet.yaml,*.kubeconfig,Corefile} \
        "$1"/{mysql,mlmd.sqlite,kfp-home}
}

serve() {
    state=$(mkdir -p "$1" && cd "$1" && pwd) TOOLS=$2; shift 2
    ARGO_TOOLS= ARGO_VERSION= KFP_TOOLS= GCS_SEED=
    if [ "${1:-}" = --argo ]; then ARGO_TOOLS=$(cd "${2:?--argo ARGO_TOOLS}" && pwd); shift 2; fi
    if [ "${1:-}" = --kfp ]; then
        [ -n "$ARGO_TOOLS" ] || die "--kfp needs --argo: KFP's runs are Argo Workflows"
        KFP_TOOLS=$(cd "${2:?--kfp KFP_TOOLS}" && pwd); shift 2
        [ -x "$KFP_TOOLS/apiserver" ] || die "$KFP_TOOLS has no apiserver: build it with kubeflow/kfp_go/build.sh"
    fi
    if [ "${1:-}" = --gcs-seed ]; then GCS_SEED=$(cd "${2:?--gcs-seed DIR}" && pwd); shift 2; fi
    [ -x "$TOOLS/kube-apiserver" ] && [ -x "$TOOLS/kube-proxy" ] \
        || die "$TOOLS lacks kube-apiserver or kube-proxy: build it with kubeflow/cluster/build.sh"
    if [ -n "$ARGO_TOOLS" ]; then  # `argoexec version --short` prints "argoexec: v4.0.5"
        ARGO_VERSION=$("$ARGO_TOOLS/argoexec" version --short 2>/dev/null | sed -n 's/^argoexec: //p')
        [ -n "$ARGO_VERSION" ] || die "$ARGO_TOOLS has no working argoexec: build it with kubeflow/argo/build.sh"
    fi
    export TOOLS ARGO_TOOLS ARGO_VERSION KFP_TOOLS GCS_SEED
    [ "$(id -u)" = 0 ] || die "the cluster runs as root"
    local image
    for image in "$@"; do [ -f "$image" ] || die "no image archive $image"; done
    # A new cluster each time, whatever an earlier one left (the images' archives stay).
    remove_data "$state" && rm -rf "$state/logs"
    mkdir -p "$state/images"
    [ -f "$state/images/pause.tar" ] || program_image "$state/images/pause.tar" "$PAUSE_IMAGE" "$TOOLS/pause"
    local argo_images=() program
    for program in ${ARGO_TOOLS:+argoexec workflow-controller}; do  # made each time: they follow ARGO_TOOLS
        # uid 8737: upstream's workflow-controller and argoexec-nonroot images (its Dockerfile)
        program_image "$state/images/$program.tar" "$(argo_image "$program")" "$ARGO_TOOLS/$program" 8737
        argo_images+=("$state/images/$program.tar")
    done
    for program in ${KFP_TOOLS:+driver launcher-v2}; do  # KFP's, FROM scratch like Argo's
        program_image "$state/images/kfp-$program.tar" "$(kfp_image "${program%-v2}")" "$KFP_TOOLS/$program" 65534
        argo_images+=("$state/images/kfp-$program.tar")
    done
    # The network namespace: made here, unless the caller made it (./imdb kfp-local up does, on
    # the host, so that its other calls see it too).
    local enter=() network=(--net="$state/netns")
    if nsenter --net="$state/netns" true 2>/dev/null; then
        enter=(nsenter --net="$state/netns") network=()
    else
        touch "$state/netns"
    fi
    # SIGTERM/SIGINT go to the namespaces' first process, which stops the daemons in order.
    "${enter[@]}" unshare "${network[@]}" --pid --fork --kill-child --mount --propagation slave --mount-proc \
        "$here/cluster.sh" _inside "$state" "$state/images/pause.tar" "${argo_images[@]}" "$@" &
    local unshare=$! status signals=0 before
    trap 'signals=$((signals + 1)); pkill -TERM -P "$unshare" || true' TERM INT
    while :; do  # a signal ends `wait` early (then the trap runs): wait again for the cluster's own end
        before=$signals status=0
        wait "$unshare" || status=$?
        [ "$status" -gt 128 ] && [ "$signals" -gt "$before" ] || break
    done
    clean "$state" || status=1
    return $status
}

case "${1:-}" in
    serve) shift; serve "$@" ;;
    _inside) shift; state=$1; shift; run_cluster "$@" ;;
    clean) shift; clean "$(cd "${1:?usage: cluster.sh clean STATE}" && pwd)" ;;
    cgroup-root) cgroup_root "$(cd "${2:?usage: cluster.sh cgroup-root STATE}" && pwd)"; echo ;;
    kubectl)
        shift; state=${1:?usage: cluster.sh kubectl STATE [ARGS]}; shift
        [ -f "$state/ready" ] || die "no cluster is running at $state (./imdb kfp-local up)"
        exec nsenter --net="$state/netns" env KUBECONFIG="$state/admin.kubeconfig" "${TOOLS:?}/kubectl" "$@" ;;
    *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
