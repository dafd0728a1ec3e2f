#!/usr/bin/env bash
# Brings a Debian machine to where `npm test` and `npm run demo` work: the Debian packages
# the project needs (only those missing), node_modules (only when package-lock.json
# changed), then the probes, the TypeScript and the web bundle. Idempotent; quiet when all
# is in place. Both README commands run it first (npm's pretest and predemo hooks).
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp -t tollgate-setup.XXXXXX)
trap 'rm -f "$log"' EXIT

say() { echo "setup: $*" >&2; }
fail() {
  say "$*"
  [ -s "$log" ] && tail -n 40 "$log" >&2
  exit 1
}

# Build tools for the probes, the kernel tools they need, the lab's network tools and
# proxies, the load generator, the browser for the viewer's tests, Prometheus for the
# test that scrapes the collector as the shipped scrape job does, and PostgreSQL's server,
# of which the store's tests start throwaway clusters (test/postgres-server.ts; the
# package's own cluster, if it made one, is not used). Python for the lab's one proxy
# that must enter namespaces (lab/two-namespace-proxy.py), which node cannot.
debian_packages=(
  clang llvm make gcc pkg-config libbpf-dev libelf-dev zlib1g-dev
  bpftool bpftrace linux-perf
  iproute2 iptables procps haproxy wrk
  chromium prometheus postgresql python3
)

missing=()
for pkg in "${debian_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}; as root run: apt-get update && apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >>"$log" 2>&1 || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
    fail "could not install: ${missing[*]}"
fi

if [ ! -r /sys/kernel/btf/vmlinux ]; then
  say "WARNING: this kernel has no BTF (/sys/kernel/btf/vmlinux is missing)."
  say "WARNING: the CO-RE probes cannot load here; build the kernel with CONFIG_DEBUG_INFO_BTF=y."
fi

# Classic tracepoints and bpftrace find events through tracefs; some machines boot
# without it mounted (tp_btf programs do not need it).
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>>"$log" ||
    say "WARNING: could not mount tracefs at /sys/kernel/tracing; classic tracepoints will not attach"
fi

stamp=node_modules/.tollgate-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >>"$log" 2>&1 || fail "npm ci failed"
  echo "$want" >"$stamp"
fi

if [ -f probes/Makefile ]; then
  make -s -C probes >>"$log" 2>&1 || fail "building the probes failed"
fi
npx --no-install tsc -p tsconfig.json >>"$log" 2>&1 || fail "TypeScript build failed"
npx --no-install vite build --config web/vite.config.ts --logLevel error >>"$log" 2>&1 ||
  fail "web build failed"
