# kubelet-ctxfix: patched upstream kubelet 1.36 (and the same change on 1.37)
# with a fixed sync-context lifecycle. See README.md.
#
#   make                       build the kubelet of the default base (VERSION)
#   make build KUBE_VERSION=v1.36.2 ARCH=arm64
#   make test                  what CI runs (2,928 s on a fresh clone, empty caches, 2026-12-06)
#   make release ARCHES="amd64 arm64"
#   make test-matrix           the series on every supported base
#   make soak KUBE_VERSION=v1.36.2 PODS=100 DURATION=10m
#   make e2e KUBE_VERSION=v1.36.5   a real node: API server, containerd, runc, CNI
#   make e2e-faults KUBE_VERSION=v1.36.5   the kubelet swapped, killed and churned, the runtime killed, the API cut off
#   make cluster KUBE_VERSION=v1.36.5 NODES=3   kubeadm init and join from the release's apt repository and images
#                                               (SOURCE_TYPE=http: from its http layout, as image-builder's http mode)
#   make cluster-roll KUBE_VERSION=v1.36.5      the kubelets replaced node by node by the README's commands, under a workload
#   make cluster-conformance KUBE_VERSION=v1.36.5   upstream's conformance specs, stock kubelets then ours
#   make cluster-upgrade KUBE_VERSION=v1.36.5   kubeadm upgrade from upstream's control plane to ours, and on
#   make clean

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

# Empty means: the default base from VERSION, the host's architecture.
KUBE_VERSION ?=
ARCH ?=
# Soak settings; empty means hack/soak.sh's defaults.
PODS ?=
DURATION ?=
INTERVAL ?=
COUNT ?=
BENCHTIME ?=
# Release architectures; empty means amd64 and arm64.
ARCHES ?=
# Bases make update-checksums records; empty means every base it lists.
BASES ?=
# Node e2e's sustained sync; empty means hack/e2e.sh's defaults.
SYNC_PODS ?=
SYNC_DURATION ?=
E2E_SCENARIOS ?=
# The cluster: nodes, and a command to run on it before it is taken down.
NODES ?=
CMD ?=
CONFORMANCE ?=
export BASES KUBE_VERSION ARCH PODS DURATION INTERVAL COUNT BENCHTIME ARCHES SYNC_PODS SYNC_DURATION E2E_SCENARIOS NODES CMD CONFORMANCE

.PHONY: all build release verify-release test-image-builder verify-reproducible update-checksums test test-matrix soak probe-check e2e e2e-faults cluster cluster-roll cluster-conformance cluster-upgrade cluster-down verify-alerts bench verify-bisect verify-patches clean help

all: build

## build: the patched kubelet for KUBE_VERSION (default: VERSION) and ARCH (default: host)
build:
	hack/build-kubelet.sh

## release: binaries, control-plane images, node tarballs, source archive,
## signed apt and yum repositories, SBOMs, ATTRIBUTION.txt, SHA256SUMS and
## SHA512SUMS, cosign bundles and SLSA provenance of KUBE_VERSION for ARCHES
## under _output/release/<version>/ (CTXFIX_COSIGN_KEY: the cosign key)
release:
	hack/release.sh

## verify-release: cosign bundles and provenance (README's "Verify a
## release"; CTXFIX_COSIGN_PUBLIC_KEY: the key you trust), checksums,
## layout, goss check, deb install into a scratch root, rpm metadata, SBOM
## and source archive of the release of KUBE_VERSION
verify-release:
	hack/verify-release.sh

## test-image-builder: image-builder's http and pkg modes, step for step,
## against the release of KUBE_VERSION served on loopback (needs root)
test-image-builder:
	hack/test-image-builder.sh

## verify-reproducible: two fresh trees, two empty build caches, same bytes
## (12 minutes measured for amd64 and arm64, 2026-12-04)
verify-reproducible:
	hack/verify-reproducible.sh

## update-checksums: record the sha256s of the binaries of BASES (default: every base
## build/CHECKSUMS lists, and the default base) in build/CHECKSUMS
update-checksums:
	hack/update-checksums.sh

## test: own tests, series form and bisectability, upstream unit tests on the
## patched default base, series tests on v1.36.2 patched and failing on stock
test:
	hack/test.sh

## verify-alerts: ctxleak's Prometheus rules, checked and unit-tested with
## promtool; each guard broken in turn must fail the tests
verify-alerts:
	hack/verify-alerts.sh

## test-matrix: the series' tests patched on every supported base, the
## regression tests failing on every stock base they are listed for, and
## bisectability on every base
test-matrix:
	hack/test-matrix.sh

## soak: stock and patched kubelets of KUBE_VERSION side by side under sustained
## pod sync (PODS=50 DURATION=90s INTERVAL=10s); needs root
soak:
	hack/soak.sh

## probe-check: stock and patched kubelets of KUBE_VERSION with exec readiness
## probes, pods removed: does probing go on while they terminate? needs root
probe-check:
	PODS=$${PODS:-20} hack/soak.sh -probe-check -window 5s -check probes-fixed

## e2e: a real node on this machine (etcd, kube-apiserver, kube-controller-manager,
## containerd, runc, CNI, in network namespaces of its own) running the stock and
## the patched kubelet of KUBE_VERSION one after the other, judged by scenarios
## written with client-go (SYNC_PODS=100 SYNC_DURATION=10m E2E_SCENARIOS=all); needs root
e2e:
	hack/e2e.sh

## e2e-faults: the real node's faults on KUBE_VERSION, stock and patched side by
## side: the kubelet swapped in place under 50 pods and rolled back, by binary and
## by deb (dpkg into a scratch root, started from the unit), restarted,
## killed during a preStop hook and mid-sync, containerd killed, the API
## partitioned, the API server restarted, the node rebooted, and 10 waves of 25 pods of churn, whose performance stock run
## twice gives a noise band for; needs root
e2e-faults:
	E2E_SCENARIOS=$${E2E_SCENARIOS:-kubelet-restart,kubelet-killed-during-prestop,kubelet-killed-at-succeeded,kubelet-killed-mid-sync,containerd-killed,api-partitioned,apiserver-restarted,node-rebooted,churn,kubelet-swap,kubelet-package-swap} SWAP_PODS=$${SWAP_PODS:-50} REPEAT_STOCK=$${REPEAT_STOCK:-1} hack/e2e.sh

## cluster: a kubeadm cluster of NODES (default 3) from the release of
## KUBE_VERSION (made first if absent): every node's packages from the
## release's signed apt repository on loopback, its images imported,
## kubeadm init and join, each node a network and mount namespace with
## containerd of its own; left up (make cluster-down), or with CMD, CMD
## run on the control-plane node and the cluster taken down; SOURCE_TYPE=http
## installs the nodes from the release's http layout instead, as
## image-builder's http mode does; needs root
cluster:
	hack/cluster.sh

## cluster-roll: on a cluster as make cluster builds it, but with the stock
## kubelet packaged as upstream's (a test stand-in), replace every kubelet
## with ours node by node under a live workload and roll back, without and
## with drain; the cluster is taken down after; needs root
cluster-roll:
	hack/cluster.sh --roll

## cluster-conformance: on a cluster as make cluster-roll builds it,
## upstream's conformance specs (test/cluster-conformance.txt, or with
## CONFORMANCE=full every [Conformance] spec but the disruptive ones) with
## the stock kubelets, then with ours; the table goes to
## _output/cluster/conformance/<base>/<list|full>/table.md; needs root
cluster-conformance:
	hack/cluster.sh --conformance

## cluster-upgrade: on two nodes, kubeadm init at the stock KUBE_VERSION by
## upstream's kubeadm (a test stand-in) with the stock control plane; then
## docs/node-images.md's kubeadm upgrade commands to ours and on to upstream's
## next release (simulated by the stock version), each kubelet by the
## README's commands; what kubeadm printed goes to
## _output/cluster/upgrade/<base>/transcript.md; needs root
cluster-upgrade:
	hack/cluster.sh --upgrade

## cluster-down: take down the cluster make cluster left up, and check that
## nothing of it is left
cluster-down:
	hack/cluster.sh --down

## bench: pod-worker sync benchmark, stock vs patched KUBE_VERSION in one run,
## compared with benchstat (COUNT=8 BENCHTIME=20000x)
bench:
	hack/bench.sh

verify-bisect:
	hack/verify-bisect.sh

verify-patches:
	hack/verify-patches.sh

clean:
	rm -rf _output

help:
	@sed -n 's/^## //p' Makefile
