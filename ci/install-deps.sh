#!/usr/bin/env bash
# Installs everything galley needs to build, test and run its sandbox on Debian 12.
# Idempotent: packages already present are skipped by apt-get; safe to run twice.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev          # Beast + Asio, header-only (DESIGN §7.1: not -all-dev)
  libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev libssl-dev
  zlib1g-dev                # gzip of large LB models in Consul (render/lb_model_codec)
  libmimalloc-dev           # the allocator galley and the sandbox link (normal builds; JSON trees of big listings)
  libgtest-dev libgmock-dev googletest
  haproxy                   # the real load balancer, started by tests on loopback
  python3 python3-yaml python3-jsonschema   # JSON Schema agreement tests
  python3-marathon python3-consul           # third-party clients for conformance tests
  curl sqlite3 iproute2 util-linux wrk     # wrk: HTTP load for the benchmarks
  openssl                                  # test certificates for the TLS client tests
  clang-format-14                          # ci/check-format.sh: the tree matches .clang-format
  prometheus                               # promtool: `promtool check metrics` on /metrics (serve)
  chromium chromium-driver python3-selenium  # the dashboard's real-browser tests and benchmark (serve)
  skopeo                                   # third-party registry client: the registry emulator check
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# haproxy's package starts a system instance; galley's tests start their own.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now haproxy >/dev/null 2>&1 || true; fi
$SUDO service haproxy stop >/dev/null 2>&1 || true
echo "install-deps: done"
