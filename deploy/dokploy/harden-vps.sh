#!/usr/bin/env bash
# Harden a small Debian/Ubuntu VPS before (and after) installing Dokploy:
#   * SSH: keys only (no passwords, no keyboard-interactive), root by key only
#   * firewall (ufw): deny incoming except SSH, 80, 443 (and Dokploy's 3000 during setup)
#   * fail2ban on sshd
#   * unattended security upgrades
#   * swap (a swap file when there is none) and sysctl tuned for a small VPS
#
# Idempotent: every step compares what is there with what it wants and changes only the
# difference, so a second run changes nothing. `--dry-run` prints what it would do and
# changes nothing (it only reads files and command output).
#
# Usage: sudo bash deploy/dokploy/harden-vps.sh [--dry-run] [--ssh-port 22] [--swap-size 2G]
#                                                [--admin-user NAME] [--close-dokploy-port]
set -euo pipefail

DRY_RUN=0
SSH_PORT=22
SWAP_SIZE=2G
ADMIN_USER="${SUDO_USER:-root}"
DOKPLOY_PORT=3000
CLOSE_DOKPLOY_PORT=0
# Every file path below is under $HARDEN_ROOT (unset: /). Only the tests set it, to run the
# real (not dry) mode against a scratch directory with stub commands.
R="${HARDEN_ROOT:-}"
SWAP_NAME=/swapfile
SWAP_FILE="$R$SWAP_NAME"
FSTAB="$R/etc/fstab"
SSHD_CONFIG="$R/etc/ssh/sshd_config"
# sshd keeps the first value it reads and includes sshd_config.d/*.conf in name order:
# 01- comes before a cloud image's 50-cloud-init.conf (which often allows passwords).
SSHD_DROPIN="$R/etc/ssh/sshd_config.d/01-bizos-hardening.conf"
FAIL2BAN_JAIL="$R/etc/fail2ban/jail.d/60-bizos-sshd.local"
AUTO_UPGRADES="$R/etc/apt/apt.conf.d/20auto-upgrades"
SYSCTL_FILE="$R/etc/sysctl.d/60-bizos-small-vps.conf"

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "error: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --ssh-port) SSH_PORT="${2:?--ssh-port needs a value}"; shift ;;
    --swap-size) SWAP_SIZE="${2:?--swap-size needs a value}"; shift ;;
    --admin-user) ADMIN_USER="${2:?--admin-user needs a value}"; shift ;;
    --close-dokploy-port) CLOSE_DOKPLOY_PORT=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

case "$SSH_PORT" in
  '' | *[!0-9]*) die "--ssh-port must be a number, not '$SSH_PORT'" ;;
esac
case "$SWAP_SIZE" in
  [0-9]*[MG]) ;;
  *) die "--swap-size must look like 512M or 2G, not '$SWAP_SIZE'" ;;
esac

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo), or with --dry-run to see what it would do"
fi
command -v apt-get >/dev/null || die "this script supports Debian/Ubuntu (apt-get) only"

say() { echo "==> $*"; }

# Run a command that changes the system; in a dry run, print it instead.
run() {
  if [ "$DRY_RUN" -eq 1 ]; then
    echo "would run: $*"
  else
    echo "+ $*"
    "$@"
  fi
}

# Write $2 (content) to $1 with mode $3 when it differs; prints what happened.
# Returns 0 when the file changed (or would), 1 when it was already right.
write_file() {
  local path="$1" content="$2" mode="$3"
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
    echo "unchanged: $path"
    return 1
  fi
  if [ "$DRY_RUN" -eq 1 ]; then
    echo "would write $path (mode $mode):"
    printf '%s\n' "$content" | sed 's/^/    | /'
    return 0
  fi
  local tmp
  tmp="$(mktemp "${path}.XXXXXX")"
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  echo "wrote: $path"
  return 0
}

install_packages() {
  say "packages"
  local missing=() pkg
  for pkg in "$@"; do
    if dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
      echo "installed: $pkg"
    else
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
}

harden_ssh() {
  say "ssh: keys only"
  local home keys
  home="$(getent passwd "$ADMIN_USER" | cut -d: -f6 || true)"
  keys="$R${home:-/nonexistent}/.ssh/authorized_keys"
  # Never lock the operator out: passwords go only once a key can log in.
  # a key line, with or without options in front (from="…",no-pty ssh-ed25519 AAAA…)
  if ! grep -qE '(^|[[:space:],])(ssh-[a-z0-9]+|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+)[[:space:]]+AAAA' \
    "$keys" 2>/dev/null; then
    if [ "$DRY_RUN" -eq 1 ]; then
      echo "warning: no SSH public key in $keys; the real run stops here until you add one"
    else
      die "no SSH public key in $keys: add one (ssh-copy-id $ADMIN_USER@<server>) and log in with it first"
    fi
  fi
  # The drop-in only takes effect where sshd_config includes sshd_config.d (OpenSSH >= 8.2:
  # Debian 11+, Ubuntu 20.04+).
  if ! grep -qsE '^Include /etc/ssh/sshd_config\.d/' "$SSHD_CONFIG"; then
    if [ "$DRY_RUN" -eq 1 ]; then
      echo "warning: $SSHD_CONFIG does not include sshd_config.d/; the real run stops here"
    else
      die "$SSHD_CONFIG does not include /etc/ssh/sshd_config.d/*.conf; add that Include line first"
    fi
  fi
  local conf
  conf="$(printf '%s\n' \
    "# Managed by deploy/dokploy/harden-vps.sh" \
    "Port $SSH_PORT" \
    "PubkeyAuthentication yes" \
    "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" \
    "PermitEmptyPasswords no" \
    "PermitRootLogin prohibit-password" \
    "MaxAuthTries 3" \
    "LoginGraceTime 30" \
    "X11Forwarding no")"
  if write_file "$SSHD_DROPIN" "$conf" 0644; then
    run sshd -t
    run systemctl reload ssh
  fi
}

firewall() {
  say "firewall (ufw)"
  run ufw default deny incoming
  run ufw default allow outgoing
  run ufw allow "$SSH_PORT/tcp" comment ssh
  run ufw allow 80/tcp comment http
  run ufw allow 443/tcp comment https
  run ufw allow 443/udp comment http3
  if [ "$CLOSE_DOKPLOY_PORT" -eq 1 ]; then
    run ufw delete allow "$DOKPLOY_PORT/tcp" || true  # absent already: nothing to delete
  else
    run ufw allow "$DOKPLOY_PORT/tcp" comment dokploy-setup
  fi
  run ufw --force enable
}

fail2ban() {
  say "fail2ban"
  local jail
  jail="$(printf '%s\n' \
    "# Managed by deploy/dokploy/harden-vps.sh" \
    "[sshd]" \
    "enabled = true" \
    "port = $SSH_PORT" \
    "backend = systemd" \
    "maxretry = 5" \
    "findtime = 10m" \
    "bantime = 1h")"
  if write_file "$FAIL2BAN_JAIL" "$jail" 0644; then
    run systemctl enable fail2ban
    run systemctl restart fail2ban
  fi
}

unattended_upgrades() {
  say "unattended upgrades"
  local conf
  conf="$(printf '%s\n' \
    'APT::Periodic::Update-Package-Lists "1";' \
    'APT::Periodic::Unattended-Upgrade "1";' \
    'APT::Periodic::AutocleanInterval "7";')"
  if write_file "$AUTO_UPGRADES" "$conf" 0644; then
    run systemctl enable unattended-upgrades
    run systemctl restart unattended-upgrades
  fi
}

swap() {
  say "swap"
  local active
  active="$(swapon --show=NAME --noheadings 2>/dev/null || true)"
  if [ -n "$active" ] && ! printf '%s\n' "$active" | grep -qx "$SWAP_FILE"; then
    echo "unchanged: swap already active ($(printf '%s' "$active" | tr '\n' ' '))"
    return 0
  fi
  if [ -f "$SWAP_FILE" ]; then
    echo "exists: $SWAP_FILE"
  else
    run fallocate -l "$SWAP_SIZE" "$SWAP_FILE"
    run chmod 600 "$SWAP_FILE"
    run mkswap "$SWAP_FILE"
  fi
  if [ -n "$active" ]; then
    echo "unchanged: $SWAP_FILE active"
  else
    run swapon "$SWAP_FILE"
  fi
  if grep -qE "^${SWAP_NAME}[[:space:]]" "$FSTAB" 2>/dev/null; then
    echo "unchanged: $SWAP_NAME in $FSTAB"
  elif [ "$DRY_RUN" -eq 1 ]; then
    echo "would append to $FSTAB: $SWAP_NAME none swap sw 0 0"
  else
    echo "$SWAP_NAME none swap sw 0 0" >>"$FSTAB"
    echo "appended: $SWAP_NAME to $FSTAB"
  fi
}

tune_sysctl() {
  say "sysctl (small VPS)"
  local conf
  # Docker needs ip_forward: nothing here turns it off. overcommit_memory=1: Redis forks to
  # write its append-only file and would fail to on a small VPS otherwise.
  conf="$(printf '%s\n' \
    "# Managed by deploy/dokploy/harden-vps.sh" \
    "vm.swappiness = 10" \
    "vm.vfs_cache_pressure = 50" \
    "vm.overcommit_memory = 1" \
    "net.core.somaxconn = 4096" \
    "net.ipv4.tcp_syncookies = 1" \
    "net.ipv4.conf.all.accept_redirects = 0" \
    "net.ipv4.conf.default.accept_redirects = 0" \
    "net.ipv4.conf.all.send_redirects = 0" \
    "net.ipv4.conf.all.accept_source_route = 0" \
    "net.ipv6.conf.all.accept_redirects = 0" \
    "kernel.kptr_restrict = 2" \
    "fs.inotify.max_user_watches = 524288")"
  if write_file "$SYSCTL_FILE" "$conf" 0644; then
    run sysctl --system
  fi
}

main() {
  if [ "$DRY_RUN" -eq 1 ]; then
    say "dry run: nothing on this machine changes"
  fi
  install_packages ufw fail2ban unattended-upgrades
  harden_ssh
  firewall
  fail2ban
  unattended_upgrades
  swap
  tune_sysctl
  say "done"
  if [ "$CLOSE_DOKPLOY_PORT" -eq 0 ]; then
    echo "port $DOKPLOY_PORT stays open for Dokploy's setup; once Dokploy has its own domain,"
    echo "run again with --close-dokploy-port"
  fi
}

main
