#!/bin/sh
# Let a running systemd forget the removed unit. A failed reload must not
# fail the removal, as in upstream's package (systemd's %systemd_postun).
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
fi
