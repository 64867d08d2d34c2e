#!/usr/bin/env bash
# Brings up one real node on this machine and runs the stock and the patched
# kubelet of one base on it, one after the other, judged by the scenarios of
# pkg/nodee2e (test/e2e): etcd, kube-apiserver and kube-controller-manager of
# the base, containerd and runc, the bridge CNI, and images built here.
# Without --short, the scenarios end with upstream's node conformance list:
# e2e_node.test and ginkgo from the patched tree, agnhost from the stock one.
# With --short, the node then runs the stock and patched kubelets of
# LEAK_BASE, a base that leaks, for the sustained sync and the
# node-problem-detector plugin: a leak seen through the API server, and not
# seen once patched.
#
# Network: two network namespaces that this run makes, joined by a veth pair:
# the control plane in one, the node (containerd, kubelet, pods) in the other.
# kube-apiserver will not proxy to a loopback node address, and the host's
# own interfaces get no address and no iptables rule: everything the node
# does to the network stays in namespaces that are deleted at the end.
#
# Paths: everything lives under _output/e2e/<base>/run, removed at the end.
# What the kubelet and containerd write elsewhere whatever they are told
# (/var/lib/kubelet/device-plugins, /var/log/containers, /run/containerd,
# /var/lib/cni, cgroups named kubepods) is removed if this run made it. The
# run then checks that nothing is left: no process, mount, namespace, cgroup,
# iptables rule of the host or path outside _output/. Also on failure and on
# Ctrl-C.
#
# Processes: every process the run starts is recorded (pkg/nodeproc's
# NAME.pid and NAME.cmdline in run/records/): the control plane and
# containerd from here, the kubelets from test/e2e. containerd runs in a pids
# cgroup of its own, which its shims inherit. The cleanup stops what the
# records name, then kills what is left in the cgroups the run made (the
# shims, the containers): nothing is killed by a pattern of its name.
#
# Results, kubelet logs and heap profiles stay in _output/e2e/<base>/<kubelet
# base>/ (with --short, one folder for the base and one for LEAK_BASE); the
# other components' logs in _output/e2e/<base>/logs/.
#
# Usage: hack/e2e.sh [--short]
#   KUBE_VERSION   base (default from VERSION)
#   --short        what make test runs: readiness during termination, the
#                  node-problem-detector plugin, the kubectl plugin, the
#                  kubelet killed during a preStop hook, churn, and the swap
#                  of stock for patched and back under running pods on
#                  KUBE_VERSION, then SYNC_DURATION (default 90s) of
#                  sustained sync and the node-problem-detector plugin on
#                  LEAK_BASE
#   LEAK_BASE      with --short, the base of the sustained sync (default
#                  v1.36.2)
#   SYNC_PODS      pods of the sustained sync (default 100; 20 with --short)
#   SYNC_DURATION  its length (default 10m; 90s with --short)
#   E2E_SCENARIOS  scenarios to run on KUBE_VERSION, comma separated
#                  (default: all; with --short, the six above)
#   SWAP_PODS      pods of the kubelet swap (default 20)
#   CHURN_WAVES, CHURN_PODS, CHURN_SETTLE
#                  the churn: waves, pods per wave, and the time after the
#                  last wave before the node is judged (default 10, 25 and
#                  60s; 3, 25 and 60s with --short)
#   REPEAT_STOCK   1: run the stock kubelet again after the patched one, for
#                  the scenarios that measure performance (churn), whose
#                  stock-against-stock ratios are the noise band of the
#                  patched-against-stock ones (make e2e-faults sets it)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "${CTXFIX_ROOT}/hack/lib/images.sh"

[[ "$(id -u)" == 0 ]] || ctxfix::die "the node e2e runs containerd, runc and a kubelet, which needs root"
short=false
case "${1:-}" in
  "") ;;
  --short) short=true ;;
  *) ctxfix::die "unknown argument '$1' (usage: hack/e2e.sh [--short])" ;;
esac
ctxfix::require_tools go gcc openssl ip nsenter curl
ctxfix::require_packages runc:runc etcd:etcd-server busybox:busybox-static bash-static:bash-static iptables:iptables
[[ -x /usr/lib/cni/bridge ]] || ctxfix::require_packages /usr/lib/cni/bridge:containernetworking-plugins
[[ -d /sys/fs/cgroup/memory ]] || ctxfix::die "the node e2e expects cgroup v1 hierarchies under /sys/fs/cgroup (this machine's kind); found none"

base="$(ctxfix::kube_version)"
arch="$(go env GOHOSTARCH)"
out="${CTXFIX_OUTPUT}/e2e/${base}"
run="${out}/run"
bin="${CTXFIX_OUTPUT}/e2e/bin"
node=ctxfix-node
cp_ns=ctxfix-e2e-cp
node_ns=ctxfix-e2e-node
# The two ends of the veth pair; both addresses exist only inside the run's
# namespaces.
cp_ip=10.213.0.1
node_ip=10.213.0.2
pod_cidr=10.214.0.0/24
service_cidr=10.215.0.0/24
if ${short}; then
  sync_pods="${SYNC_PODS:-20}" sync_duration="${SYNC_DURATION:-90s}" sync_interval=30s
  churn_waves="${CHURN_WAVES:-3}" churn_pods="${CHURN_PODS:-25}" churn_settle="${CHURN_SETTLE:-60s}"
  scenarios="${E2E_SCENARIOS:-readiness-during-termination,npd-node-check,kubectl-plugin,kubelet-killed-during-prestop,churn,kubelet-swap}"
  leak_base="${LEAK_BASE:-v1.36.2}"
  leak_scenarios=sustained-sync,npd-node-check
else
  sync_pods="${SYNC_PODS:-100}" sync_duration="${SYNC_DURATION:-10m}" sync_interval=60s
  # Waves of 25: on this 2-core machine a wave of 50 drove the load above
  # 40, and 4 of its 30 ordinary pods, probed Ready by the kubelet, were not
  # Ready in the API 3 minutes later.
  churn_waves="${CHURN_WAVES:-10}" churn_pods="${CHURN_PODS:-25}" churn_settle="${CHURN_SETTLE:-60s}"
  scenarios="${E2E_SCENARIOS:-}"
  leak_base=""
fi
case "${REPEAT_STOCK:-0}" in
  0) repeat_stock=false ;;
  1) repeat_stock=true ;;
  *) ctxfix::die "REPEAT_STOCK=${REPEAT_STOCK}: want 0 or 1" ;;
esac
# Upstream's node conformance list runs in make e2e, not in its short form.
conformance=false
if [[ -z "${scenarios}" || ",${scenarios}," == *",node-conformance,"* ]]; then
  conformance=true
fi

# Paths outside _output/ that the kubelet, containerd or the CNI plugins
# create whatever they are told: removed at the end if this run made them.
outside=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/lib/cni)
declare -A existed=()
for path in "${outside[@]}"; do
  [[ -e "${path}" ]] && existed["${path}"]=1
done

# Another run, or a run that was killed with SIGKILL, would share names and
# cgroups with this one: refuse rather than take them over.
for ns in "${cp_ns}" "${node_ns}"; do
  [[ ! -e "/run/netns/${ns}" ]] || ctxfix::die "network namespace ${ns} exists: another node e2e is running, or one was killed (its processes are recorded in ${run#"${CTXFIX_ROOT}"/}/records; then ip netns del ${ns})"
done
for hierarchy in /sys/fs/cgroup/*/; do
  [[ ! -d "${hierarchy}kubepods" ]] || ctxfix::die "${hierarchy}kubepods exists: another kubelet runs pods on this machine; the node e2e needs the kubepods cgroups to itself"
done
# containerd and its shims, in the pids hierarchy.
runtime_cgroup=/sys/fs/cgroup/pids/ctxfix-e2e-runtime
[[ ! -d "${runtime_cgroup}" ]] || ctxfix::die "${runtime_cgroup} exists: another node e2e is running, or one was killed (kill the processes in its cgroup.procs, then rmdir it)"
# The host's iptables rules, without counters and comments: the run must
# leave them as they were. An iptables-save that fails stops the run here,
# rather than comparing two empty listings at the end.
host_iptables() { iptables-save | awk '!/^[#:]/'; }
iptables_before="$(host_iptables)" || ctxfix::die "iptables-save failed: cannot check that the run leaves the host's rules alone"

# ---- build what the node runs ------------------------------------------------
ctxfix::log "node e2e of ${base}: building the stock and patched kubelets, the control plane, containerd and images"
# kubelet_bases: the bases whose stock and patched kubelets run, in order.
kubelet_bases=("${base}")
if [[ -n "${leak_base}" ]]; then
  ctxfix::supported_bases | grep -qx -- "${leak_base}" || ctxfix::die "LEAK_BASE ${leak_base} is not a supported base (build/bases.tsv)"
  [[ "${leak_base}" != "${base}" ]] || ctxfix::die "LEAK_BASE is KUBE_VERSION (${base}): the short run needs a leaking base beside it"
  kubelet_bases+=("${leak_base}")
fi
for b in "${kubelet_bases[@]}"; do
  "${CTXFIX_ROOT}/hack/build-kubelet.sh" --stock "${b}" "${arch}"
  "${CTXFIX_ROOT}/hack/build-kubelet.sh" "${b}" "${arch}"
done
# stock_kubelet BASE, patched_kubelet BASE: where build-kubelet.sh put them.
stock_kubelet() { echo "${CTXFIX_OUTPUT}/stock-release/$1/bin/linux/${arch}/kubelet"; }
patched_kubelet() { echo "${CTXFIX_OUTPUT}/release/$(ctxfix::distribution_version "$1")/bin/linux/${arch}/kubelet"; }
mkdir -p "${bin}/${base}"
# kube-apiserver, kube-controller-manager and kubectl from the same stock
# tree: the series does not touch them. Without the controller manager,
# namespaces never finish terminating, the not-ready taint stays and there is
# no default ServiceAccount. kubectl runs ctxleak as its plugin.
ctxfix::go_in_tree --stock "${base}" build -o "${bin}/${base}/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kubectl ||
  ctxfix::die "could not build kube-apiserver, kube-controller-manager and kubectl of ${base}"
# containerd from its Go module at the version build/upstream.sum pins,
# static and without the snapshotters this machine's kernel lacks.
ctxfix::install_pinned github.com/containerd/containerd/v2 "${bin}" "no_btrfs no_devmapper no_zfs" \
  cmd/containerd cmd/ctr cmd/containerd-shim-runc-v2
e2e="$(ctxfix::go_tool ./test/e2e)"
release_tool="$(ctxfix::go_tool ./cmd/ctxfix-release)"
ctxleak="$(ctxfix::go_tool ./cmd/ctxleak)"
image_tool="$(ctxfix::go_tool ./cmd/ctxfix-image)"
node_tool="$(ctxfix::go_tool ./cmd/ctxfix-node)"

# Images: there is no registry. pause from the module's own source, busybox
# from Debian's (ctxfix::busybox_image).
images="${CTXFIX_OUTPUT}/e2e/images"
mkdir -p "${images}"
stock_tree="$(ctxfix::tree_dir --stock "${base}")"
pause_version="$(sed -n 's/.*configs\[Pause\] = Config{list.GcRegistry, "pause", "\([^"]*\)"}.*/\1/p' "${stock_tree}/test/utils/image/manifest.go")"
[[ -n "${pause_version}" ]] || ctxfix::die "could not read the pause version from ${base}'s test/utils/image/manifest.go"
pause_image="registry.k8s.io/pause:${pause_version}"
ctxfix::build_pause "${stock_tree}" "${pause_version}" "${arch}" "${images}/pause"
"${image_tool}" -ref "${pause_image}" -arch "${arch}" -entrypoint /pause -file "/pause=${images}/pause" -out "${images}/pause.tar"
busybox_image="$(ctxfix::busybox_image "${stock_tree}" "${arch}" "${image_tool}" "${images}/busybox.tar")"
ctxfix::log "images: ${pause_image}, ${busybox_image}"

image_names=(pause busybox)
conformance_args=()
if ${conformance}; then
  # Upstream's node e2e tests, built from the patched tree: the tests of the
  # code that ships, run against the stock kubelet as against the patched.
  ctxfix::log "e2e_node.test from the patched tree of ${base}, agnhost from its stock tree"
  ctxfix::e2e_suite "${base}" ./test/e2e_node "${bin}/${base}"
  ctxfix::agnhost_image "${base}" "${arch}" "${image_tool}" "${images}" >/dev/null
  image_names+=(agnhost)
fi

# The kubelet-package-swap scenario installs the kubelets as debs, made by
# the release's packaging: ours at the release's version, and the stock one
# under upstream's name and version (1.36.5-1.1), a stand-in for upstream's
# package that says so in its description.
deb_args=()
if [[ -z "${scenarios}" || ",${scenarios}," == *",kubelet-package-swap,"* ]]; then
  ctxfix::require_tools dpkg dpkg-deb dpkg-query
  debs="${bin}/${base}/debs"
  rm -rf "${debs}"
  for kind in stock patched; do
    stand_in=()
    [[ "${kind}" == patched ]] || stand_in=(--upstream-stand-in)
    deb="$(ctxfix::node_deb "${stand_in[@]}" kubelet "$("${kind}_kubelet" "${base}")" "${base}" "${arch}" "${debs}" "${release_tool}")"
    deb_args+=(-kubelet-deb "${kind}=${deb}")
  done
  ctxfix::log "kubelet debs for kubelet-package-swap: ${deb_args[*]}"
fi

# ---- bring the node up, and take it down whatever happens --------------------
rm -rf "${out}"
mkdir -p "${run}"
logs="${out}/logs"
mkdir -p "${logs}"
# The PID records of every process the run starts (pkg/nodeproc's format):
# the control plane and containerd from here, the kubelets from test/e2e.
records="${run}/records"
mkdir -p "${records}"

# kill_cgroup HIERARCHY_DIR kills every process in a cgroup this run made, and
# in its children: the containers in kubepods, the shims in runtime_cgroup.
kill_cgroup() {
  local procs
  [[ -d "$1" ]] || return 0
  # Cgroups come and go while containers die: a cgroup.procs that vanished
  # between find and cat, or a process that exited before kill, is expected.
  procs="$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u || true)"
  [[ -z "${procs}" ]] || kill -9 ${procs} 2>/dev/null || true
}

left_behind() {
  local left=() path hierarchy
  [[ -z "$(pgrep -f -- "${run}" || true)" ]] || left+=("processes: $(pgrep -af -- "${run}" | cut -c1-160 | paste -sd';')")
  ! grep -q " ${run}" /proc/self/mountinfo || left+=("mounts under ${run}")
  for path in "/run/netns/${cp_ns}" "/run/netns/${node_ns}" "${run}"; do
    [[ ! -e "${path}" ]] || left+=("${path}")
  done
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ ! -d "${hierarchy}kubepods" ]] || left+=("${hierarchy}kubepods")
  done
  [[ ! -d "${runtime_cgroup}" ]] || left+=("${runtime_cgroup}")
  for path in "${outside[@]}"; do
    [[ -n "${existed[${path}]:-}" || ! -e "${path}" ]] || left+=("${path}")
  done
  local iptables_after
  if ! iptables_after="$(host_iptables)"; then
    left+=("host iptables rules unknown: iptables-save failed")
  elif [[ "${iptables_after}" != "${iptables_before}" ]]; then
    left+=("changed host iptables rules")
  fi
  ((${#left[@]} == 0)) || { printf 'left behind by the node e2e: %s\n' "${left[@]}" >&2; return 1; }
}

cleanup() {
  local status=$? pid m hierarchy path
  trap - EXIT INT TERM
  # Take down everything, even when one step fails: a cleanup that stopped at
  # its first error would leave the rest behind.
  set +e
  ctxfix::log "node e2e: taking the node down"
  # Every recorded process, newest first: the kubelet (test/e2e stops its
  # own; a killed run may leave one), containerd, the control plane. Then
  # what containerd started: the shims and the containers.
  ctxfix::stop_recorded "${records}"
  kill_cgroup "${runtime_cgroup}"
  kill_cgroup /sys/fs/cgroup/pids/kubepods
  sleep 0.5
  # Deepest mounts first: pod volumes, network namespaces of pods, overlay
  # root filesystems.
  while read -r m; do
    umount -l "${m}" 2>/dev/null || true
  done < <(awk -v run="${run}" 'index($5, run) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -d "${hierarchy}kubepods" ]] || continue
    find "${hierarchy}kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  [[ ! -d "${runtime_cgroup}" ]] || rmdir "${runtime_cgroup}"
  ip netns del "${node_ns}" 2>/dev/null || true
  ip netns del "${cp_ns}" 2>/dev/null || true
  rm -rf "${run}"
  for path in "${outside[@]}"; do
    [[ -n "${existed[${path}]:-}" ]] || rm -rf "${path}"
  done
  if ! left_behind; then
    status=1
  else
    ctxfix::log "node e2e: nothing left behind (processes, mounts, namespaces, cgroups, iptables, paths outside _output/)"
  fi
  recap_failures
  exit "${status}"
}

# recap_failures repeats, after the node is down, the verdicts of each base
# whose kubelets did not do what they must: the end of the output is what a
# reader of a failed run sees first. The table and its lines, or, for a run
# that ended before its table, the last lines it printed (klog's left out).
recap_failures() {
  local b log
  for b in "${failed[@]}"; do
    log="${logs}/e2e-${b}.log"
    [[ -f "${log}" ]] || continue
    echo
    echo "node e2e of ${b} did not pass (all of it in ${log#"${CTXFIX_ROOT}"/}):"
    if grep -q '^SCENARIO ' "${log}"; then
      grep -v '^[IWE][0-9]\{4\} ' "${log}" | awk '/^SCENARIO /{on=1} on{print; if ($0 == "" && ++blank == 2) exit}'
    else
      grep -v '^[IWE][0-9]\{4\} ' "${log}" | tail -n 10
    fi
  done
}
# The bases whose kubelets did not do what they must, for recap_failures.
failed=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME NETNS COMMAND... runs COMMAND in the background inside NETNS,
# its output in logs/NAME.log, its PID recorded. nsenter execs COMMAND: the
# recorded PID is COMMAND's.
start() {
  local name="$1" netns="$2"
  shift 2
  nsenter --net="/run/netns/${netns}" -- "$@" >"${logs}/${name}.log" 2>&1 &
  ctxfix::record_pid "${records}" "${name}" "$!" "$@"
}

# wait_for NAME SECONDS COMMAND... retries COMMAND until it succeeds.
wait_for() {
  local name="$1" seconds="$2" i
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -n 20 "${logs}/${name}.log" >&2 || true
  ctxfix::die "${name} did not come up in ${seconds} s (its log: ${logs#"${CTXFIX_ROOT}"/}/${name}.log)"
}

ctxfix::log "network: namespaces ${cp_ns} (${cp_ip}) and ${node_ns} (${node_ip}), joined by a veth pair"
ip netns add "${cp_ns}"
ip netns add "${node_ns}"
ip -n "${cp_ns}" link set lo up
ip -n "${node_ns}" link set lo up
ip -n "${cp_ns}" link add eth0 type veth peer name eth0 netns "${node_ns}"
ip -n "${cp_ns}" addr add "${cp_ip}/24" dev eth0
ip -n "${node_ns}" addr add "${node_ip}/24" dev eth0
ip -n "${cp_ns}" link set eth0 up
ip -n "${node_ns}" link set eth0 up
ip -n "${node_ns}" route add default via "${cp_ip}"

ctxfix::log "certificates for this run"
pki="${run}/pki"
# The run's CA, kept for the controller manager's signer, the API server's
# serving certificate, a client certificate per user, the service-account
# key pair, and the kubeconfigs (pkg/runca, with client-go's cert and
# clientcmd).
"${release_tool}" node-pki -dir "${pki}" \
  -server "apiserver=kube-apiserver@${cp_ip},127.0.0.1,${service_cidr%.0/24}.1,kubernetes,kubernetes.default.svc" \
  -client admin=ctxfix-e2e-admin@system:masters \
  -client apiserver-kubelet-client=kube-apiserver-kubelet-client@system:masters \
  -client controller-manager=system:kube-controller-manager \
  -client "kubelet=system:node:${node}@system:nodes" \
  -kubeconfig "${run}/admin.kubeconfig=admin@https://${cp_ip}:6443" \
  -kubeconfig "${run}/controller-manager.kubeconfig=controller-manager@https://127.0.0.1:6443" \
  -kubeconfig "${run}/kubelet.kubeconfig=kubelet@https://${cp_ip}:6443" ||
  ctxfix::die "could not make the run's certificates and kubeconfigs"

ctxfix::log "control plane: etcd $(etcd --version | sed -n 's/^etcd Version: //p'), kube-apiserver and kube-controller-manager ${base}"
start etcd "${cp_ns}" etcd --name ctxfix-e2e --data-dir "${run}/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster ctxfix-e2e=http://127.0.0.1:2380
wait_for etcd 30 nsenter --net="/run/netns/${cp_ns}" -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/2379'
# Upstream's node e2e framework talks to the API server with a bearer token
# only: a static one, made for this run, for a cluster admin.
conformance_token="$(openssl rand -hex 32)"
echo "${conformance_token},ctxfix-e2e-conformance,ctxfix-e2e-conformance,system:masters" >"${pki}/tokens.csv"
echo "${conformance_token}" >"${pki}/conformance.token"
chmod 600 "${pki}/tokens.csv" "${pki}/conformance.token"
start kube-apiserver "${cp_ns}" "${bin}/${base}/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="${cp_ip}" \
  --service-cluster-ip-range="${service_cidr}" --client-ca-file="${pki}/ca.crt" \
  --tls-cert-file="${pki}/apiserver.crt" --tls-private-key-file="${pki}/apiserver.key" \
  --kubelet-client-certificate="${pki}/apiserver-kubelet-client.crt" --kubelet-client-key="${pki}/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="${pki}/sa.pub" \
  --service-account-signing-key-file="${pki}/sa.key" --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --allow-privileged=true --cert-dir="${run}/apiserver-certs" \
  --token-auth-file="${pki}/tokens.csv"
# Ready, not only serving: the controller manager exits if it starts before
# the RBAC bootstrap policy is in place.
wait_for kube-apiserver 90 nsenter --net="/run/netns/${cp_ns}" -- curl -sf --cacert "${pki}/ca.crt" \
  --cert "${pki}/admin.crt" --key "${pki}/admin.key" "https://${cp_ip}:6443/readyz"
# The controller manager's node-monitor grace period outlasts every outage
# the scenarios make, so that only the kubelet speaks for the node and its
# pods: at the default 50 s, its own watches starting again after the API
# server's restart, it marked the node Unknown (and with it would mark the
# pods not Ready) while the kubelet was reporting again.
start kube-controller-manager "${cp_ns}" "${bin}/${base}/kube-controller-manager" \
  --kubeconfig="${run}/controller-manager.kubeconfig" --authentication-kubeconfig="${run}/controller-manager.kubeconfig" \
  --authorization-kubeconfig="${run}/controller-manager.kubeconfig" --leader-elect=false \
  --node-monitor-grace-period=2m \
  --service-account-private-key-file="${pki}/sa.key" --root-ca-file="${pki}/ca.crt" --use-service-account-credentials=true \
  --cluster-signing-cert-file="${pki}/ca.crt" --cluster-signing-key-file="${pki}/ca.key" --bind-address=127.0.0.1
wait_for kube-controller-manager 60 nsenter --net="/run/netns/${cp_ns}" -- curl -sfk https://127.0.0.1:10257/healthz

ctxfix::log "runtime: containerd $("${bin}/containerd" --version | cut -d" " -f3), $(runc --version | head -n1), Debian's CNI plugins"
mkdir -p "${run}/cni/net.d" "${run}/containerd"
# The same settings as a cluster node's (pkg/runtimeconfig), with everything
# under the run folder: this node shares the host's /run (the pods' network
# namespaces, runc's state), /etc/cdi and /var/lib/cni.
"${node_tool}" runtime-config -root "${run}/containerd/root" -state "${run}/containerd/state" \
  -address "${run}/containerd.sock" -sandbox-image "${pause_image}" \
  -cni-bin-dir /usr/lib/cni -cni-conf-dir "${run}/cni/net.d" -netns-under-state \
  -cdi-spec-dir "${run}/cdi" -runc-root "${run}/runc" \
  -network ctxfix-e2e -pod-subnet "${pod_cidr}" -ipam-data-dir "${run}/cni/ipam" \
  -containerd-config "${run}/containerd/config.toml" -cni-config "${run}/cni/net.d/10-bridge.conflist"
PATH="${bin}:${PATH}" start containerd "${node_ns}" "${bin}/containerd" --config "${run}/containerd/config.toml"
# containerd in a cgroup of its own, before it starts any shim: the shims
# outlive it, and the cleanup finds them there.
mkdir "${runtime_cgroup}"
cat "${records}/containerd.pid" >"${runtime_cgroup}/cgroup.procs" ||
  ctxfix::die "could not move containerd into ${runtime_cgroup}: has it exited? (its log: ${logs#"${CTXFIX_ROOT}"/}/containerd.log)"
wait_for containerd 30 "${bin}/ctr" --address "${run}/containerd.sock" version
for image in "${image_names[@]}"; do
  "${bin}/ctr" --address "${run}/containerd.sock" -n k8s.io images import --all-platforms "${images}/${image}.tar" >>"${logs}/images.log" 2>&1 ||
    ctxfix::die "ctr could not import ${images}/${image}.tar (${logs}/images.log)"
done

if ${conformance}; then
  conformance_args=(-conformance-binary "${bin}/${base}/e2e_node.test" -conformance-ginkgo "${bin}/${base}/ginkgo" -conformance-host "https://${cp_ip}:6443"
    -conformance-token-file "${pki}/conformance.token" -conformance-known-failures "${CTXFIX_ROOT}/test/e2e-node-known-failures.tsv")
fi
# run_kubelets BASE SCENARIOS [ARGS...]: test/e2e with the stock and the
# patched kubelet of BASE, on this node and control plane, each with root
# folders of its own; results in _output/e2e/<base>/<BASE>/.
run_kubelets() {
  local b="$1" selected="$2" status
  shift 2
  ctxfix::log "kubelets: stock $("$(stock_kubelet "${b}")" --version), patched $("$(patched_kubelet "${b}")" --version); scenarios: ${selected:-all}"
  mkdir -p "${out}/${b}" "${run}/${b}"
  set +e
  # nsenter, not ip netns exec: that would give test/e2e, and so the kubelets
  # it starts, a mount namespace of their own, and containerd would not see
  # the volumes they mount.
  nsenter --net="/run/netns/${cp_ns}" -- "${e2e}" -base "${b}" \
    -kubelet "stock=$(stock_kubelet "${b}")" -kubelet "patched=$(patched_kubelet "${b}")" \
    -kubeconfig "${run}/admin.kubeconfig" -node "${node}" -netns "/run/netns/${node_ns}" -run-dir "${run}/${b}" -record-dir "${records}" \
    -kubelet-args "--kubeconfig=${run}/kubelet.kubeconfig --node-ip=${node_ip} --hostname-override=${node} --v=2" \
    -node-ip "${node_ip}" -client-ca-file "${pki}/ca.crt" \
    -cri-socket "${run}/containerd.sock" -runtime-root "${run}/containerd/root" -runtime-state "${run}/containerd/state,${run}/runc" \
    -runtime-cgroups "${runtime_cgroup},/sys/fs/cgroup/pids/kubepods" -cni-bridge cni0 -cni-ipam-dir "${run}/cni/ipam" -ctxleak "${ctxleak}" -kubectl "${bin}/${base}/kubectl" -out "${out}/${b}" -scenarios "${selected}" \
    -sync-pods "${sync_pods}" -sync-duration "${sync_duration}" -sync-interval "${sync_interval}" -swap-pods "${SWAP_PODS:-20}" \
    -churn-waves "${churn_waves}" -churn-pods "${churn_pods}" -churn-settle "${churn_settle}" -repeat-stock="${repeat_stock}" "$@" 2>&1 | tee "${logs}/e2e-${b}.log"
  status="${PIPESTATUS[0]}"
  set -e
  if ((status == 130)); then
    echo "node e2e of ${b}: interrupted" >&2
    exit 130
  fi
  ((status == 0)) || { echo "node e2e of ${b}: a kubelet did not do what it must (table above; logs in ${out#"${CTXFIX_ROOT}"/}/${b})" >&2; return 1; }
}
# Both bases run even when the first fails: what each does is the evidence.
run_kubelets "${base}" "${scenarios}" "${conformance_args[@]}" "${deb_args[@]}" || failed+=("${base}")
if [[ -n "${leak_base}" ]]; then
  run_kubelets "${leak_base}" "${leak_scenarios}" || failed+=("${leak_base}")
fi
((${#failed[@]} == 0)) || ctxfix::die "node e2e: the kubelets of ${failed[*]} did not do what they must"
ctxfix::log "node e2e: every kubelet of ${kubelet_bases[*]} did what it must (results: ${out#"${CTXFIX_ROOT}"/}/<base>/results.json)"
