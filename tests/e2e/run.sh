#!/usr/bin/env bash
# End-to-end, as root, on this machine: build the .debs, install them with
# apt, create throwaway users, start the installed mfad with the installed
# config, enable the pam-auth-update profile, and log in through a real
# sshd (Debian's openssh-server on 127.0.0.1 and a high port, with its own
# config and host key) with the real OpenSSH client driven by expect, and
# through the system `login` stack with pamtester. oathtool plays the
# authenticator app. Push approval (tests/e2e/push.sh) runs the packaged
# mfa-gateway as its system user against a loopback ntfy stand-in, and
# headless Chromium (target/debug/webapprove) plays the phone.
#
# Everything is put back afterwards (profile disabled, packages purged,
# users deleted, daemons stopped), also when a step fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: needs root (CI runs as root)" >&2
    exit 1
fi
need=()
for p in debhelper lintian fakeroot dpkg-dev openssh-server openssh-client pamtester expect oathtool systemd \
    chromium chromium-driver; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    echo "e2e: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || exit 1
fi

WORK=$(mktemp -d /tmp/mfa-e2e.XXXXXX)
chmod 755 "$WORK"
USERS=(mfa-e2e-alice mfa-e2e-bob mfa-e2e-carol mfa-e2e-dave mfa-e2e-erin mfa-e2e-frank)
PASS=Lab-Passw0rd-e2e
PORT=$((20000 + RANDOM % 20000))
mfad_pid=
gateway_pid=
ntfy_pid=
phone_pid=
sms_pid=

passed=0
failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
bad() { echo "FAIL - $1"; failed=$((failed + 1)); }
# check NAME COMMAND...: the command's success is the check.
check() {
    local name=$1
    shift
    if "$@" >>"$WORK/checks.log" 2>&1; then ok "$name"; else bad "$name"; fi
}

stop_mfad() {
    if [ -n "$mfad_pid" ]; then
        kill "$mfad_pid" 2>/dev/null
        wait "$mfad_pid" 2>/dev/null
        mfad_pid=
    fi
}

# runuser passes SIGTERM on to the gateway and waits for it.
stop_gateway() {
    if [ -n "$gateway_pid" ]; then
        kill "$gateway_pid" 2>/dev/null
        wait "$gateway_pid" 2>/dev/null
        gateway_pid=
    fi
}

cleanup() {
    set +e
    # One PidFile per sshd, named after it (sshd, mfa-e2e-key, ...).
    for pid in "$WORK"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
    for pid in "$phone_pid" "$ntfy_pid" "$sms_pid"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    phone_pid= ntfy_pid= sms_pid=
    stop_gateway
    stop_mfad
    if dpkg -s libpam-mfa >/dev/null 2>&1; then pam-auth-update --disable mfa; fi
    # The token file is the test's, not the package's: gone first, so the
    # purge can remove /etc/mfa-gateway. Purging mfad removes the
    # mfad.toml written below (a conffile, even when changed).
    rm -f /etc/mfa-gateway/ntfy-token /etc/mfa-gateway/sms-password
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq libpam-mfa mfad mfa-gateway >/dev/null 2>&1
    # The purge removes the gateway's user; a run killed before it did not.
    id mfa-gateway >/dev/null 2>&1 && userdel -f mfa-gateway 2>/dev/null
    getent group mfa-gateway >/dev/null && groupdel mfa-gateway 2>/dev/null
    rm -f /etc/pam.d/mfa-e2e-key /etc/pam.d/mfa-e2e-nullok
    for u in "${USERS[@]}"; do id "$u" >/dev/null 2>&1 && userdel -r -f "$u" 2>/dev/null; done
    rm -f /run/mfad.sock
    rm -rf /run/mfad-root
    if grep -q pam_mfa /etc/pam.d/common-auth; then echo "e2e: WARNING: pam_mfa left in common-auth" >&2; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A run that died half-way must not leave state for this one.
cleanup 2>/dev/null
WORK=$(mktemp -d /tmp/mfa-e2e.XXXXXX)
chmod 755 "$WORK"

code_now() { oathtool --totp -b "$1" --now "@$(($(date +%s) + ${2:-0}))"; }

echo "== build and check the packages"
if ! dpkg-buildpackage -b -us -uc >"$WORK/build.log" 2>&1; then
    tail -30 "$WORK/build.log"
    bad "dpkg-buildpackage -b -us -uc"
    exit 1
fi
ok "dpkg-buildpackage -b -us -uc"
mv ../libpam-mfa_*.deb ../mfad_*.deb ../mfa-gateway_*.deb "$WORK"/
rm -f ../libpam-mfa-dbgsym_*.deb ../mfad-dbgsym_*.deb ../mfa-gateway-dbgsym_*.deb ../pam-mfa_*.buildinfo ../pam-mfa_*.changes
debs=("$WORK"/libpam-mfa_*.deb "$WORK"/mfad_*.deb "$WORK"/mfa-gateway_*.deb)
lintian --fail-on error,warning "${debs[@]}" >"$WORK/lintian.log" 2>&1 && ok "lintian: no errors or warnings" ||
    { cat "$WORK/lintian.log"; bad "lintian: no errors or warnings"; }

echo "== install"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log"
    bad "apt-get install the .debs"
    exit 1
fi
ok "apt-get install the .debs"
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
check "module at /usr/lib/$triplet/security/pam_mfa.so, mode 0644" \
    test "$(stat -c %a "/usr/lib/$triplet/security/pam_mfa.so")" = 644
# The module was built alone (debian/rules, in target/deb), so nothing of
# tokio is in it: neither in the packaged, stripped .so nor in the
# unstripped build.
built=target/deb/release/libpam_mfa.so
no_tokio() { for f in "$@"; do nm -D --demangle "$f" | grep -q pam_sm_authenticate || return 1; ! nm -D --demangle "$f" | grep -q tokio || return 1; done; ! nm --demangle "$built" | grep -q tokio; }
check "no tokio symbol in the packaged or the built module (nm, nm -D)" \
    no_tokio "/usr/lib/$triplet/security/pam_mfa.so" "$built"
check "mfad, mfa, units and profile installed" \
    test -x /usr/sbin/mfad -a -x /usr/bin/mfa -a -f /lib/systemd/system/mfad.service \
    -a -f /lib/systemd/system/mfad.socket -a -f /usr/share/pam-configs/mfa
check "the config is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' mfad | grep -q /etc/mfad/mfad.toml"
check "man pages installed" test -f /usr/share/man/man8/pam_mfa.8.gz -a -f /usr/share/man/man8/mfad.8.gz \
    -a -f /usr/share/man/man1/mfa.1.gz
check "D-Bus policy, activation file and the agent's autostart installed" \
    test -f /usr/share/dbus-1/system.d/org.pam_mfa.Mfad1.conf \
    -a -f /usr/share/dbus-1/system-services/org.pam_mfa.Mfad1.service \
    -a -f /etc/xdg/autostart/mfa-agent.desktop
check "the bus activates mfad only through systemd" \
    grep -qx "SystemdService=mfad.service" /usr/share/dbus-1/system-services/org.pam_mfa.Mfad1.service
check "lintian says nothing about the D-Bus policy" sh -c "! grep -q dbus-policy '$WORK/lintian.log'"
check "the installed D-Bus policy lets only root own the name" \
    sh -c "grep -q '<policy user=\"root\">' /usr/share/dbus-1/system.d/org.pam_mfa.Mfad1.conf && ! grep -q at_console /usr/share/dbus-1/system.d/org.pam_mfa.Mfad1.conf"
check "installing enables nothing (profile is Default: no)" sh -c "! grep -q pam_mfa /etc/pam.d/common-auth"
check "systemd-analyze verify of the installed units" \
    systemd-analyze verify --man=no /lib/systemd/system/mfad.socket /lib/systemd/system/mfad.service
exposure() { # UNIT: its systemd-analyze security score
    systemd-analyze security --offline=yes "/lib/systemd/system/$1" 2>/dev/null |
        sed -n "s/.*Overall exposure level for $1: \([0-9.]*\).*/\1/p"
}
exposure=$(exposure mfad.service)
echo "     systemd-analyze security exposure: $exposure"
check "exposure score below 1.0" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e < 1.0) }'
. tests/e2e/gateway_package.sh

echo "== users, daemon, profile"
for u in "${USERS[@]}"; do
    useradd -m -s /bin/bash "$u"
    echo "$u:$PASS" | chpasswd
done
# Push on, everything else at its default (every key has one). Users
# without a phone for push see the same prompts as before.
printf '[push]\ngateway_user = "mfa-gateway"\n' >/etc/mfad/mfad.toml
/usr/sbin/mfad 2>"$WORK/mfad.log" &
mfad_pid=$!
for _ in $(seq 100); do [ -S /run/mfad.sock ] && break; sleep 0.05; done
check "installed mfad with no flags listens on /run/mfad.sock" test -S /run/mfad.sock
for _ in $(seq 100); do [ -S /run/mfad-root/mfad.sock ] && break; sleep 0.05; done
check "root's own socket is /run/mfad-root/mfad.sock, 0600 in a 0700 directory" \
    test "$(stat -c %a /run/mfad-root)" = 700 -a "$(stat -c %a /run/mfad-root/mfad.sock)" = 600
check "a local user cannot connect to root's socket" sh -c \
    '! runuser -u mfa-e2e-bob -- python3 -c "import socket; socket.socket(socket.AF_UNIX).connect(\"/run/mfad-root/mfad.sock\")" 2>/dev/null'
check "a local user can connect to the public socket" \
    runuser -u mfa-e2e-bob -- python3 -c "import socket; socket.socket(socket.AF_UNIX).connect('/run/mfad.sock')"
check "state directory /var/lib/mfad is 0700" test "$(stat -c %a /var/lib/mfad)" = 700

declare -A SECRET
for u in mfa-e2e-alice mfa-e2e-carol mfa-e2e-dave mfa-e2e-erin; do
    SECRET[$u]=$(head -c 20 /dev/urandom | base32 | tr -d '=')
    check "enroll $u" mfa enroll --user "$u" --secret "${SECRET[$u]}" --confirm "$(code_now "${SECRET[$u]}")"
done
check "mfa status: enrolled exits 0" mfa status --user mfa-e2e-alice
check "mfa status: not enrolled exits 1" sh -c 'mfa status --user mfa-e2e-bob; test $? -eq 1'

pam-auth-update --enable mfa
check "pam-auth-update --enable mfa adds pam_mfa after the primary block" \
    awk '/pam_permit.so/ { p = 1 } /pam_mfa.so/ { found = p } END { exit !found }' /etc/pam.d/common-auth
mfa doctor >"$WORK/doctor.log" 2>&1
check "mfa doctor sees the daemon" grep -q "^OK   daemon: mfad" "$WORK/doctor.log"
check "mfa doctor sees root's socket closed to others" grep -q "^OK   root socket: /run/mfad-root/mfad.sock is open to root only" "$WORK/doctor.log"
check "mfa doctor finds pam_mfa in sshd's stack" grep -q "^OK   pam sshd: common-auth:.*pam_mfa.so" "$WORK/doctor.log"

echo "== sshd"
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
# One sshd per PAM service: OpenSSH names its PAM service after the
# program, so a symlink called mfa-e2e-key uses /etc/pam.d/mfa-e2e-key.
start_sshd() { # NAME PORT EXTRA-CONFIG
    local name=$1 port=$2
    ln -sf /usr/sbin/sshd "$WORK/$name"
    cat >"$WORK/$name.conf" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/$name.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PermitRootLogin no
LogLevel VERBOSE
$3
CONF
    "$WORK/$name" -f "$WORK/$name.conf" -E "$WORK/$name.log"
    for _ in $(seq 100); do [ -f "$WORK/$name.pid" ] && break; sleep 0.05; done
}
start_sshd sshd "$PORT" "AuthenticationMethods keyboard-interactive"
check "our sshd runs with UsePAM and keyboard-interactive" sh -c \
    "sshd -T -f '$WORK/sshd.conf' | grep -q '^usepam yes' && sshd -T -f '$WORK/sshd.conf' | grep -q '^kbdinteractiveauthentication yes'"

cat >/etc/pam.d/mfa-e2e-key <<'PAM'
# SSH key + code: the key replaced the password, so only the code is asked.
auth required pam_mfa.so
@include common-account
@include common-session
PAM
start_sshd mfa-e2e-key $((PORT + 1)) "AuthenticationMethods publickey,keyboard-interactive:pam"
cat >/etc/pam.d/mfa-e2e-nullok <<'PAM'
auth [success=1 default=ignore] pam_unix.so
auth requisite pam_deny.so
auth required pam_permit.so
auth required pam_mfa.so nullok
@include common-account
@include common-session
PAM
start_sshd mfa-e2e-nullok $((PORT + 2)) "AuthenticationMethods keyboard-interactive"

SSH=(ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10)
ssh_pw() { # USER PORT CODE -> transcript in $WORK/last
    expect tests/e2e/ssh.exp "$PASS" "$3" "${SSH[@]}" -o PubkeyAuthentication=no \
        -o PreferredAuthentications=keyboard-interactive -p "$2" "$1@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
        >"$WORK/last" 2>&1
}
ran_as() { grep -q "E2E-RAN-AS $1" "$WORK/last"; }
show() { sed 's/^/     | /' "$WORK/last"; }
# judge NAME CONDITION: the condition (shell code, about the last login's
# transcript) is the check; on failure the transcript is shown.
judge() {
    if eval "$2"; then ok "$1"; else show; bad "$1"; fi
}

alice=mfa-e2e-alice
code=$(code_now "${SECRET[$alice]}" 30)
ssh_pw "$alice" "$PORT" "$code"
judge "ssh: password, then the code from oathtool, then the command runs" 'ran_as "$alice" && grep -q "Verification code:" "$WORK/last"'
ssh_pw "$alice" "$PORT" "$code"
judge "ssh: the same code for a second login is denied (and says why)" '! ran_as "$alice" && grep -q "already used" "$WORK/last"'
# The reuses above were counted as failures: start from a clean count.
mfa unlock --user "$alice" >/dev/null
wrong=$(printf '%06d' $(((10#$code + 1) % 1000000)))
ssh_pw "$alice" "$PORT" "$wrong"
judge "ssh: a wrong code is denied" '! ran_as "$alice" && grep -q "Wrong code" "$WORK/last"'
mfa unlock --user "$alice" >/dev/null

bob=mfa-e2e-bob
ssh_pw "$bob" "$PORT" 000000
judge "ssh: an unenrolled user is denied without nullok, with a message" '! ran_as "$bob" && grep -q "No second factor is set up" "$WORK/last"'
ssh_pw "$bob" $((PORT + 2)) 000000
judge "ssh: an unenrolled user gets in with nullok, asked for no code" 'ran_as "$bob" && ! grep -q "Verification code:" "$WORK/last"'
carol=mfa-e2e-carol
install -d -m 700 -o "$carol" -g "$carol" "/home/$carol/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/carol_key"
install -m 600 -o "$carol" -g "$carol" "$WORK/carol_key.pub" "/home/$carol/.ssh/authorized_keys"
expect tests/e2e/ssh.exp "not-the-password" "$(code_now "${SECRET[$carol]}" 30)" "${SSH[@]}" \
    -i "$WORK/carol_key" -o IdentitiesOnly=yes -p $((PORT + 1)) "$carol@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
    >"$WORK/last" 2>&1
judge "ssh: SSH key + code, no password asked" 'ran_as "$carol" && ! grep -qi "password" "$WORK/last"'
expect tests/e2e/ssh.exp "x" "000000" "${SSH[@]}" -o PubkeyAuthentication=no -p $((PORT + 1)) \
    "$carol@127.0.0.1" true >"$WORK/last" 2>&1
judge "ssh: without the key the code alone is not enough" '! grep -q "Verification code:" "$WORK/last" && grep -q "Permission denied" "$WORK/last"'

echo "== console login stack (pamtester login)"
dave=mfa-e2e-dave
expect tests/e2e/ssh.exp "$PASS" "$(code_now "${SECRET[$dave]}" 30)" pamtester login "$dave" authenticate \
    >"$WORK/last" 2>&1
judge "pamtester login: password + code succeeds" 'grep -q "successfully authenticated" "$WORK/last" && grep -q "Verification code:" "$WORK/last"'
expect tests/e2e/ssh.exp "$PASS" "" pamtester login "$dave" authenticate >"$WORK/last" 2>&1
judge "pamtester login: password alone fails" '! grep -q "successfully authenticated" "$WORK/last"'

. tests/e2e/push.sh
. tests/e2e/first_login.sh
. tests/e2e/sms.sh

echo "== mfad stopped"
stop_mfad
ssh_pw "$alice" "$PORT" "$(code_now "${SECRET[$alice]}" 30)"
judge "ssh: mfad stopped -> denied with a clear message" '! ran_as "$alice" && grep -q "second-factor service is not available" "$WORK/last"'
check "mfad's audit lines record the attempts and no code" sh -c \
    "grep -q 'audit attempt user=\"$alice\"' '$WORK/mfad.log' && ! grep -q '$code' '$WORK/mfad.log'"

echo "== restore"
cleanup
# The sshds (PORT..PORT+2) and the gateway (PORT+3) are gone.
listening_on_our_ports() {
    ss -Hltn | awk -v lo="$PORT" -v hi=$((PORT + 3)) '{ n = split($4, a, ":"); p = a[n] }
        p >= lo && p <= hi { found = 1 } END { exit !found }'
}
trap - EXIT
if grep -q pam_mfa /etc/pam.d/common-auth || dpkg -s libpam-mfa >/dev/null 2>&1 || id mfa-e2e-alice >/dev/null 2>&1 ||
    dpkg -s mfa-gateway >/dev/null 2>&1 || id mfa-gateway >/dev/null 2>&1 || [ -e /etc/mfa-gateway ] || [ -e /etc/mfad ] ||
    listening_on_our_ports; then
    bad "machine restored"
else
    ok "machine restored"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
