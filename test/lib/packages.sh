# test/lib/packages.sh — install_packages PKG...: as root, the Debian
# packages named (apt-get update first); as another user, say what is
# needed and go on (sourced by test/run and demo/run).
install_packages() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root, not installing packages (needs: $*)"
        return 0
    fi
    echo "== installing packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || return 1
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || return 1
    # Debian's package may create a cluster on 5432; we never use it.
    pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
}
