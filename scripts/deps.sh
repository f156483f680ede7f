#!/usr/bin/env bash
# Install what building and testing need, only when it is missing, so the
# commands in the README work on a fresh Debian 12 machine with Rust.
set -euo pipefail

need=()
dpkg -s libpam0g-dev >/dev/null 2>&1 || need+=(libpam0g-dev)
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
# Files written by Debian's own google-authenticator for the import tests
# (tests/tests/ga_import.rs).
command -v google-authenticator >/dev/null 2>&1 || need+=(libpam-google-authenticator)
command -v expect >/dev/null 2>&1 || need+=(expect)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
# The fleet tests' certificate authority (tests/src/pki.rs).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Browser tests of the push gateway's approval page (tests/src/web.rs).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# A throwaway PostgreSQL cluster for the PostgreSQL store's tests
# (tests/src/postgres.rs).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
# The D-Bus tests: a private dbus-daemon, busctl and gdbus as clients, and
# python3-dbusmock's notification server for `mfa agent` (tests/src/dbus.rs).
command -v dbus-daemon >/dev/null 2>&1 || need+=(dbus)
command -v busctl >/dev/null 2>&1 || need+=(systemd)
command -v gdbus >/dev/null 2>&1 || need+=(libglib2.0-bin)
/usr/bin/python3 -c 'import dbusmock' >/dev/null 2>&1 || need+=(python3-dbusmock)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing ${need[*]}; run as root (or install them) first" >&2
        exit 1
    fi
    echo "deps: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for comp in clippy rustfmt; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$comp"
    fi
done
