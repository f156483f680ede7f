# The installed mfa-gateway package, checked right after apt installed it
# (sourced by tests/e2e/run.sh, which defines check, WORK and exposure):
# its files, its system user, a unit that is verified, hardened, and
# neither enabled nor started by the installation.

check "mfa-gateway: binary, config and unit installed" \
    test -x /usr/sbin/mfa-gateway -a -f /etc/mfa-gateway/gateway.toml -a -f /lib/systemd/system/mfa-gateway.service
check "mfa-gateway: its config is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' mfa-gateway | grep -q /etc/mfa-gateway/gateway.toml"
check "mfa-gateway: man page installed" test -f /usr/share/man/man8/mfa-gateway.8.gz
# A system uid, no home, and a shell that refuses logins.
gateway_account_ok() {
    local uid home shell
    IFS=: read -r _ _ uid _ _ home shell < <(getent passwd mfa-gateway) || return 1
    [ "$uid" -lt 1000 ] && [ ! -e "$home" ] && case $shell in /usr/sbin/nologin | /bin/false) ;; *) false ;; esac &&
        getent group mfa-gateway >/dev/null
}
check "mfa-gateway: the package created its system user, with no home and no login shell" gateway_account_ok
check "mfa-gateway: installing enabled and started nothing" sh -c \
    '! [ -e /etc/systemd/system/multi-user.target.wants/mfa-gateway.service ] && ! pgrep -u mfa-gateway >/dev/null'
check "mfa-gateway: systemd-analyze verify of its unit" \
    systemd-analyze verify --man=no /lib/systemd/system/mfa-gateway.service
gateway_exposure=$(exposure mfa-gateway.service)
echo "     systemd-analyze security exposure of mfa-gateway.service: $gateway_exposure"
# 1.1 when written: what is left is the network it needs (AF_INET,
# no PrivateNetwork or IPAddressDeny), AF_UNIX for mfad, ProtectClock's
# rtc rule and the host's root directory.
check "mfa-gateway: exposure score below 1.5" awk -v e="$gateway_exposure" 'BEGIN { exit !(e != "" && e < 1.5) }'
