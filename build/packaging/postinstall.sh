#!/bin/sh
# Let a running systemd see the (re)installed unit. Like upstream's package,
# this neither enables nor restarts the kubelet: a node's kubelet is started
# by its bootstrap (kubeadm, a node image) or by the operator, who restarts it
# to run the new binary.
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  # A failed reload must not fail the install, as with systemd's %systemd_post.
  systemctl daemon-reload || true
fi
