# Sourced by scripts/demo and scripts/test: makes .venv with the project and
# its test tools installed, on a fresh Debian 12 (python3 only) or any Linux.
#
# The venv also gets the `systemd` extra (systemd-python from PyPI, the newest
# one), which is compiled against libsystemd: as root on Debian the missing
# build tools (libsystemd-dev, pkg-config, a C compiler) are installed with
# apt; elsewhere, without them, the extra is skipped with a one-line notice
# and the daemon uses its own fallback for the systemd notify protocol.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
python=${PYTHON:-python3}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_updated=no
apt_install() {
    if [ "$apt_updated" = no ]; then
        apt-get update -qq
        apt_updated=yes
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        # Debian splits venv support into its own package.
        if can_apt; then
            echo "installing python3-venv (Debian ships venv support separately)" >&2
            apt_install python3-venv
            "$python" -m venv .venv
        else
            echo "error: '$python -m venv' failed; install venv support first: sudo apt install python3-venv" >&2
            exit 1
        fi
    fi
fi

# What building systemd-python needs that is missing here (Debian package names).
systemd_build_missing() {
    local missing=() include
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    { command -v pkg-config >/dev/null && pkg-config --exists libsystemd; } || missing+=(libsystemd-dev)
    command -v cc >/dev/null || command -v gcc >/dev/null || missing+=(gcc)
    include="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$include/Python.h" ] || missing+=(python3-dev)
    echo "${missing[@]}"
}

extras=test
missing="$(systemd_build_missing)"
if [ -n "$missing" ] && can_apt; then
    echo "installing $missing (to build systemd-python for the venv)" >&2
    # shellcheck disable=SC2086  # a list of package names
    apt_install $missing || true
    missing="$(systemd_build_missing)"
fi
if [ -z "$missing" ]; then
    extras=test,systemd
elif [ ! -f .venv/.installed ] || [ "$(cat .venv/.installed)" != test ]; then
    echo "notice: skipping the systemd extra (systemd-python needs: $missing); the daemon falls back to its own notify code" >&2
fi

# The stamp holds the extras installed; reinstall when they or pyproject.toml change.
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp")" != "$extras" ]; then
    echo "installing sensetask-watch and its test tools into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    if ! .venv/bin/python -m pip install -q -e ".[$extras]"; then
        [ "$extras" = test ] && exit 1
        echo "notice: building systemd-python failed; installing without the systemd extra (the daemon falls back)" >&2
        extras=test
        .venv/bin/python -m pip install -q -e ".[$extras]"
    fi
    echo "$extras" > "$stamp"
fi
