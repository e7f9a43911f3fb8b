#!/usr/bin/env bash
# The project's Python interpreter and virtual environment (used by the Makefile).
#
#   python_env.sh find [NAME]        print the interpreter to use: NAME (python3.12, a path, ...) if
#                                    given, else the newest supported python3.1x that runs on PATH
#   python_env.sh list               print "3.X PATH" for every supported version found, or
#                                    "3.X -" for one that is not installed
#   python_env.sh setup VENV [NAME]  create VENV with that interpreter (again if it holds another
#                                    Python version) and install the project into it, once per
#                                    change of pyproject.toml
#
# A NAME that is not on PATH (or is a pyenv shim of a version pyenv does not have active) is also
# looked up among pyenv's installed versions, so `make test PYTHON=python3.12` works on a machine
# whose 3.12 came from pyenv.
set -euo pipefail

SUPPORTED=(3.13 3.12 3.11)   # newest first: `find` takes the first that runs

# The X.Y version of interpreter $1, or nothing if it does not run.
version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

supported() {
    local v
    for v in "${SUPPORTED[@]}"; do [[ "$v" == "$1" ]] && return 0; done
    return 1
}

# An installed pyenv version X.Y.* as an interpreter path, newest patch release first.
from_pyenv() {
    local want=$1 root candidate
    command -v pyenv >/dev/null 2>&1 || return 1
    root=$(pyenv root)
    for candidate in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | sort -t. -k3,3nr); do
        if [[ -x "$root/versions/$candidate/bin/python$want" ]]; then
            echo "$root/versions/$candidate/bin/python$want"
            return 0
        fi
    done
    return 1
}

# The interpreter for name $1 (python3.12, /usr/bin/python3, ...), resolved to a path that runs.
resolve() {
    local name=$1 path version
    path=$(command -v "$name" 2>/dev/null || true)
    if [[ -n "$path" && -n "$(version_of "$path")" ]]; then
        echo "$path"
        return 0
    fi
    if [[ "$name" =~ ^python(3\.[0-9]+)$ ]]; then
        from_pyenv "${BASH_REMATCH[1]}" && return 0
    fi
    return 1
}

find_python() {
    local name=${1:-} path version v
    if [[ -n "$name" ]]; then
        if ! path=$(resolve "$name"); then
            echo "python_env: PYTHON=$name: no such interpreter on PATH or among pyenv's versions" >&2
            exit 1
        fi
        version=$(version_of "$path")
        if ! supported "$version"; then
            echo "python_env: PYTHON=$name is Python $version; supported: ${SUPPORTED[*]}" >&2
            exit 1
        fi
        echo "$path"
        return 0
    fi
    for v in "${SUPPORTED[@]}"; do
        path=$(command -v "python$v" 2>/dev/null || true)
        if [[ -n "$path" && "$(version_of "$path")" == "$v" ]]; then
            echo "$path"
            return 0
        fi
    done
    echo "python_env: none of python${SUPPORTED[*]// / python} runs on PATH." >&2
    echo "  Install one (Debian 13: python3.13, Ubuntu 24.04: python3.12, with its -venv package)," >&2
    echo "  or name one: make test PYTHON=/path/to/python3.12" >&2
    exit 1
}

list_pythons() {
    local v path
    for v in "${SUPPORTED[@]}"; do
        if path=$(resolve "python$v") && [[ "$(version_of "$path")" == "$v" ]]; then
            echo "$v $path"
        else
            echo "$v -"
        fi
    done
}

# The exact torch requirement of pyproject.toml (torch==X.Y.Z).
torch_pin() {
    grep -oE '"torch==[^"]+"' pyproject.toml | tr -d '"'
}

# Installs the pinned torch into venv python $1, choosing the build (docs/install.md):
#   TORCH_INDEX=URL   that package index (e.g. a CUDA or ROCm build's)
#   otherwise         a wheel on this machine's disk (pip's find-links) if there is one; else, without
#                     an NVIDIA GPU, the CPU build from PyTorch's CPU index; else (a GPU, or that
#                     index unreachable) the default build from PyPI (CUDA on Linux x86_64, ~2.6 GB
#                     with its nvidia-* packages).
install_torch() {
    local py=$1 pin
    pin=$(torch_pin)
    if [[ "$("$py" -m pip list --format=freeze 2>/dev/null | grep -i '^torch==' | sed 's/+.*//')" == "$pin" ]]; then
        return 0
    fi
    if [[ -n "${TORCH_INDEX:-}" ]]; then
        echo "python_env: $pin from TORCH_INDEX=$TORCH_INDEX"
        "$py" -m pip install --quiet --index-url "$TORCH_INDEX" "$pin"
        return 0
    fi
    # the wheel alone (its dependencies come with the project's, from the configured index)
    if "$py" -m pip install --quiet --no-index --no-deps "$pin" 2>/dev/null; then
        echo "python_env: $pin from a wheel on this machine's disk: $("$py" -m pip list --format=freeze | grep -i '^torch==')"
        return 0
    fi
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "python_env: no NVIDIA GPU: $pin, CPU build (about 190 MB) from PyTorch's CPU index"
        if "$py" -m pip install --quiet --timeout 20 --retries 1 \
            --index-url https://download.pytorch.org/whl/cpu "$pin" 2>/dev/null; then
            return 0
        fi
        echo "python_env: PyTorch's CPU index is unreachable from here: the default build from PyPI instead"
    fi
    echo "python_env: $pin from PyPI (Linux x86_64: the CUDA build, about 2.6 GB with its nvidia-* packages)"
    "$py" -m pip install --quiet "$pin"
}

setup_venv() {
    local venv=$1 python version have stamp want
    python=$(find_python "${2:-}")
    version=$(version_of "$python")
    if [[ -x "$venv/bin/python" ]]; then
        have=$(version_of "$venv/bin/python")
        if [[ "$have" != "$version" ]]; then
            echo "python_env: $venv holds Python ${have:-(broken)}; recreating it for Python $version"
            rm -rf "$venv"
        fi
    fi
    stamp="$venv/.installed"
    want="python $version $(sha256sum pyproject.toml | cut -c1-64)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "python_env: Python $version ($python) -> $venv"
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    install_torch "$venv/bin/python"
    "$venv/bin/python" -m pip install --quiet -e '.[dev,realtime]'
    echo "$want" > "$stamp"
}

case "${1:-}" in
    find) find_python "${2:-}" ;;
    list) list_pythons ;;
    setup) setup_venv "${2:?usage: python_env.sh setup VENV [PYTHON]}" "${3:-}" ;;
    *) echo "usage: python_env.sh find [PYTHON] | list | setup VENV [PYTHON]" >&2; exit 2 ;;
esac
