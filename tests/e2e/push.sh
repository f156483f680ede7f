# Push approval end to end (sourced by tests/e2e/run.sh once its sshd
# runs): the packaged mfa-gateway as its system user, a loopback ntfy
# stand-in (tests/e2e/ntfy_standin.py) that checks the bearer token and
# keeps each publish's link, and the approval page driven in headless
# Chromium by target/debug/webapprove, which plays the phone. Uses
# run.sh's helpers (check, judge, ran_as, show, code_now) and variables.

echo "== push gateway"
erin=mfa-e2e-erin
webapprove_bin=$repo/target/debug/webapprove
# scripts/test.sh builds it with the workspace; a run of this script
# alone builds it here.
[ -x "$webapprove_bin" ] || cargo build --locked -q -p mfa_tests --bin webapprove >>"$WORK/checks.log" 2>&1
check "target/debug/webapprove is built" test -x "$webapprove_bin"
# Chromium, killed at the end, can leave scoped folders in TMPDIR (seen
# in /tmp after some runs): they go into WORK, which cleanup removes.
mkdir -p "$WORK/tmp"
webapprove() { TMPDIR="$WORK/tmp" "$webapprove_bin" "$@"; }

# Shaped like ntfy's access tokens: tk_ and 29 of [a-z0-9].
NTFY_TOKEN=tk_$(head -c 64 /dev/urandom | base32 | tr 'A-Z' 'a-z' | tr -dc 'a-z0-9' | head -c 29)
# As an admin would keep it: readable by the gateway's group, not by all.
(umask 077 && printf '%s\n' "$NTFY_TOKEN" >/etc/mfa-gateway/ntfy-token)
chgrp mfa-gateway /etc/mfa-gateway/ntfy-token
chmod 0640 /etc/mfa-gateway/ntfy-token
: >"$WORK/links"
/usr/bin/python3 tests/e2e/ntfy_standin.py /etc/mfa-gateway/ntfy-token "$WORK/links" "$WORK/ntfy.port" \
    2>"$WORK/ntfy.log" &
ntfy_pid=$!
for _ in $(seq 100); do [ -s "$WORK/ntfy.port" ] && break; sleep 0.05; done
GW_PORT=$((PORT + 3))
cat >/etc/mfa-gateway/gateway.toml <<TOML
listen = "127.0.0.1:$GW_PORT"
public_url = "http://127.0.0.1:$GW_PORT"

[ntfy]
url = "http://127.0.0.1:$(cat "$WORK/ntfy.port")"
token_file = "/etc/mfa-gateway/ntfy-token"
TOML

# start_gateway LOG COMMAND...: run it, wait for its first poll of mfad.
start_gateway() {
    local log=$1
    shift
    : >"$log"
    "$@" --config /etc/mfa-gateway/gateway.toml 2>"$log" &
    gateway_pid=$!
    for _ in $(seq 100); do grep -q "polling mfad at" "$log" && return 0; sleep 0.1; done
    sed 's/^/     | /' "$log"
    return 1
}
# No systemd here: started the way the unit's User= would.
start_gateway "$WORK/gateway.log" runuser -u mfa-gateway -- /usr/sbin/mfa-gateway
check "mfa-gateway polls mfad over /run/mfad.sock (trusted: served by root)" \
    grep -q "polling mfad at /run/mfad.sock" "$WORK/gateway.log"
# runuser waits for the gateway as its child.
gateway_proc=$(pgrep -P "$gateway_pid" -x mfa-gateway || echo "$gateway_pid")
gateway_user=$(ps -o user:32= -p "$gateway_proc" 2>/dev/null | tr -d ' ')
check "the gateway process runs as mfa-gateway (ps: ${gateway_user:-none})" test "$gateway_user" = mfa-gateway
check "as its service user the gateway cannot read mfad's state (database, key)" sh -c \
    'test -f /var/lib/mfad/mfad.db -a -f /var/lib/mfad/master.key &&
     ! runuser -u mfa-gateway -- cat /var/lib/mfad/mfad.db >/dev/null 2>&1 &&
     ! runuser -u mfa-gateway -- cat /var/lib/mfad/master.key >/dev/null 2>&1'

# link N: the Nth link the stand-in received, once it has arrived.
link() {
    for _ in $(seq 150); do [ "$(wc -l <"$WORK/links")" -ge "$1" ] && break; sleep 0.1; done
    sed -n "${1}p" "$WORK/links"
}

echo "== push: add a phone"
mfa push add --user "$erin" --name pixel >"$WORK/push-add.out" 2>&1 &
add_pid=$!
number=
for _ in $(seq 150); do
    number=$(sed -n 's/.*with number \([0-9][0-9]*\).*/\1/p' "$WORK/push-add.out" | head -1)
    [ -n "$number" ] && break
    sleep 0.1
done
check "mfa push add prints the number to type" test -n "$number"
add_link=$(link 1)
check "the test notification reached ntfy (bearer token, topic) with its approval link" \
    grep -q "^http://127.0.0.1:$GW_PORT/p/" <<<"$add_link"
webapprove "$add_link" "$number" approve >"$WORK/web-add.log" 2>&1
check "webapprove: the number typed on the page in Chromium, Approve pressed, page says Approved" \
    grep -q Approved "$WORK/web-add.log"
wait "$add_pid"
add_rc=$?
check "mfa push add exits 0 once approved" test "$add_rc" -eq 0
check "mfa push list shows pixel" sh -c "mfa push list --user $erin | grep -q '^pixel'"
check "mfa push list --json parses and lists pixel" sh -c \
    "mfa push list --user $erin --json | /usr/bin/python3 -c 'import json, sys; assert [t[\"label\"] for t in json.load(sys.stdin)] == [\"pixel\"]'"

echo "== push: ssh logins"
# phone N: wait for the login's number and the Nth link, then approve.
phone() {
    for _ in $(seq 300); do [ -s "$WORK/number" ] && break; sleep 0.1; done
    webapprove "$(link "$1")" "$(cat "$WORK/number")" approve
}
ssh_push() { # ANSWER -> transcript in $WORK/last
    expect tests/e2e/ssh_push.exp "$PASS" "$WORK/number" "$1" "${SSH[@]}" -o PubkeyAuthentication=no \
        -o PreferredAuthentications=keyboard-interactive -p "$PORT" "$erin@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
        >"$WORK/last" 2>&1
}
rm -f "$WORK/number"
phone 2 >"$WORK/phone.log" 2>&1 &
phone_pid=$!
# Enter alone: the login waits, and the phone approves meanwhile.
ssh_push ""
wait "$phone_pid"
phone_rc=$?
phone_pid=
judge "ssh: password, then push approved on the page with the prompt's number, then the command runs" \
    'ran_as "$erin" && grep -q "Approve on your phone with number" "$WORK/last" && [ "$phone_rc" -eq 0 ] ||
     { sed "s/^/     phone | /" "$WORK/phone.log"; false; }'
rm -f "$WORK/number"
ssh_push "$(code_now "${SECRET[$erin]}" 30)"
judge "ssh: a code typed at the push prompt instead logs in" \
    'ran_as "$erin" && grep -q "Approve on your phone with number" "$WORK/last"'
stop_gateway

# Neither the ntfy token nor any link's token (each a bearer secret) in
# the gateway's log or mfad's.
no_tokens() {
    local log token
    for log in "$@"; do
        ! grep -qF "$NTFY_TOKEN" "$log" || return 1
        while read -r token; do
            token=${token##*/p/}
            [ -n "$token" ] && ! grep -qF "$token" "$log" || return 1
        done <"$WORK/links"
    done
}
check "the logs of the gateway and mfad hold no ntfy token and no link token" \
    no_tokens "$WORK/gateway.log" "$WORK/mfad.log"
check "mfad's audit log has push lines (sent, delivered, decision)" sh -c \
    "grep -q 'audit push .*sent' '$WORK/mfad.log' && grep -q 'audit push .*delivered' '$WORK/mfad.log' &&
     grep -q 'audit push .*decision outcome=approved' '$WORK/mfad.log'"

# The unit has PrivateUsers=yes: in that user namespace only root and the
# gateway's uid are mapped. Root must still be root to SO_PEERCRED, or
# the gateway would refuse mfad's socket. systemd's namespace, built by
# hand (tests/e2e/privateusers.py), since no systemd runs here.
start_gateway "$WORK/gateway-userns.log" /usr/bin/python3 tests/e2e/privateusers.py mfa-gateway /usr/sbin/mfa-gateway
check "in PrivateUsers=yes's user namespace the gateway still trusts mfad's socket" sh -c \
    "grep -q 'polling mfad at /run/mfad.sock' '$WORK/gateway-userns.log' &&
     test \"\$(wc -l </proc/$gateway_pid/uid_map)\" -eq 2"
stop_gateway
