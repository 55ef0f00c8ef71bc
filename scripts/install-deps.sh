#!/usr/bin/env bash
# Installs every Debian package txmail's build, server, tests and benchmarks need.
# Idempotent and non-interactive: packages already present are skipped, and apt is not
# touched at all when nothing is missing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev librocksdb-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev libexpected-dev libunbound-dev libevent-dev
  libidn2-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # cluster mode (NATS JetStream): the client library and the server the tests start
  libnats-dev nats-server
  # fuzzing (make fuzz)
  clang libclang-rt-14-dev
  # the format check (make test runs it; make format applies it) and clang-tidy (make tidy)
  clang-format clang-tidy
  # test peers and tools
  openssl swaks libnet-ssleay-perl libauthen-sasl-perl libio-socket-ssl-perl
  postfix python3 python3-pytest python3-aiosmtpd python3-dnslib
  python3-dkim python3-cryptography python3-dnspython python3-spf libmail-dkim-perl opendkim-tools nsd
  libmime-tools-perl python3-jsonschema python3-prometheus-client
  # the web console's browser test: headless Chromium driven through WebDriver
  chromium chromium-driver python3-selenium fonts-dejavu-core
  # benchmarks
  wrk curl
  procps psmisc iproute2 sqlite3 e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a test peer and a benchmark reference: never let it configure a system MTA.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
# nsd and Postfix are test peers that the tests start themselves on loopback ports: the
# installation must not start them as system services (port 53, port 25, 4222). policy-rc.d tells
# Debian's maintainer scripts not to start anything while it exists.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ -d /run/systemd/system ]; then
  for service in nsd postfix; do
    if printf '%s\n' "${missing[@]}" | grep -qx "$service"; then
      $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi
