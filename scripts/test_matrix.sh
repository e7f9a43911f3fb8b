#!/usr/bin/env bash
# The fast (non-e2e) tests under every supported Python except the default one (which `make test`
# runs whole), each in its own virtual environment .venv-py3.X. A supported version that is not
# installed is reported, not skipped in silence. Exit status: non-zero if any found version failed.
#   test_matrix.sh [DEFAULT_PYTHON]
set -uo pipefail
cd "$(dirname "$0")/.."

default=$(bash scripts/python_env.sh find "${1:-}") || exit 1
default_version=$("$default" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
results=("$default_version: make test (the default interpreter, every test)")
status=0
while read -r version path; do
    [[ "$version" == "$default_version" ]] && continue
    if [[ "$path" == "-" ]]; then
        results+=("$version: NOT TESTED, not installed on this machine")
        continue
    fi
    venv=".venv-py$version"
    echo "=== Python $version ($path): fast tests in $venv"
    start=$SECONDS
    if bash scripts/python_env.sh setup "$venv" "$path" && "$venv/bin/python" -m pytest -m "not e2e and not cluster" -q -p no:cacheprovider; then
        results+=("$version: passed (fast tests, $((SECONDS - start)) s with set-up)")
    else
        results+=("$version: FAILED (fast tests, $venv)")
        status=1
    fi
done < <(bash scripts/python_env.sh list)
echo "=== test matrix"
printf '  Python %s\n' "${results[@]}"
exit $status
