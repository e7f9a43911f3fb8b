#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the project needs, only those missing (idempotent):
#   libsndfile1      soundfile's audio I/O
#   portaudio19-dev  PyAudio (compiled against PortAudio) for the real-time engine
#   jackd2           JACK server with the dummy driver: a real audio clock without a sound card
# With --test, also what the test suite needs:
#   chromium         the report page's browser test (Playwright drives this one; it downloads none)
# With --cluster, what `make test-cluster` needs:
#   slurm-wlm munge  a private single-node SLURM cluster (scripts/test_cluster.sh)
# As root it uses apt-get directly, otherwise `sudo -n`. Without either it says what to install.
set -euo pipefail

PACKAGES=(libsndfile1 portaudio19-dev jackd2)
case "${1:-}" in
    --test) PACKAGES+=(chromium) ;;
    --cluster) PACKAGES+=(slurm-wlm munge) ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install_system_deps: not a Debian/Ubuntu system; install these yourself: ${PACKAGES[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install_system_deps: missing system packages: ${missing[*]}" >&2
    echo "  run as root or with sudo: apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
