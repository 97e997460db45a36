# Shared by scripts/build-book and scripts/test: make .venv and install what it needs.
# Re-installs only when requirements.txt (the lock) or pyproject.toml change.
ensure_venv() {
    local py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "error: Python 3.11 or newer is required (tried '$py'; set PYTHON=...)" >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    local stamp=.venv/.scaling-lab-installed
    local want
    want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        # requirements.txt is the complete lock (every package, pip and the build backend
        # included, each with its hashes; generated from requirements.in). Installing it
        # with --require-hashes --no-deps gives exactly the locked set; the package itself
        # is then added without dependencies and without an isolated (unlocked) build env.
        .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements.txt
        .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
        .venv/bin/python -m pip check
        echo "$want" > "$stamp"
    fi
}

# The fits solve many small problems; multi-threaded BLAS only adds contention there
# (a warm-started L-BFGS-B fit measured 0.5 s with default threads under load, 6 ms
# with one). Callers may override.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# Published datasets: read them from the offline mirror beside the checkout when there
# is one (CI has ../shared/data); otherwise scaling_lab.datasets downloads them.
if [ -z "${SCALING_LAB_DATA:-}" ] && [ -d ../shared/data ]; then
    SCALING_LAB_DATA="$(cd ../shared/data && pwd)"
    export SCALING_LAB_DATA
fi

# The browser tests drive Debian's chromium (never a downloaded browser).
ensure_chromium() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # Wait for another apt or dpkg run to finish instead of failing on its lock.
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
            chromium >/dev/null
    else
        echo "error: /usr/bin/chromium is missing; install Debian's chromium package" >&2
        return 1
    fi
}
