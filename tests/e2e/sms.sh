# Sourced by run.sh: codes by text message through the installed packages.
# The packaged mfa-gateway, as its system user, gets an [sms] provider of
# kind "http" pointed at a loopback SMS API stand-in
# (tests/e2e/sms_standin.py, basic auth, one message a line in a file the
# shell reads like a phone). alice adds her number with the code it got
# (mfa phone add, then --confirm), and logs in over the real sshd with
# her password, `sms` and the code from the text.

echo "== codes by text message"
(umask 077 && printf '%s\n' "sms-$(head -c 12 /dev/urandom | base32)" >/etc/mfa-gateway/sms-password)
chgrp mfa-gateway /etc/mfa-gateway/sms-password
chmod 0640 /etc/mfa-gateway/sms-password
: >"$WORK/sms"
/usr/bin/python3 tests/e2e/sms_standin.py lab /etc/mfa-gateway/sms-password "$WORK/sms" "$WORK/sms.port" \
    2>"$WORK/sms-standin.log" &
sms_pid=$!
for _ in $(seq 100); do [ -s "$WORK/sms.port" ] && break; sleep 0.05; done
cat >>/etc/mfa-gateway/gateway.toml <<TOML

[sms]
kind = "http"
url = "http://127.0.0.1:$(cat "$WORK/sms.port")/send"
method = "POST"
content_type = "form"
body = "to={to}&text={message}"
basic_user = "lab"
basic_password_file = "/etc/mfa-gateway/sms-password"
TOML
start_gateway "$WORK/gateway-sms.log" runuser -u mfa-gateway -- /usr/sbin/mfa-gateway
check "mfa-gateway starts with the [sms] provider" grep -q "polling mfad at /run/mfad.sock" "$WORK/gateway-sms.log"
sleep 1
mfa phone add --user "$alice" "+1 555 123 4567" </dev/null >"$WORK/phone-add.log" 2>&1
for _ in $(seq 100); do [ -s "$WORK/sms" ] && break; sleep 0.1; done
check "mfa phone add: the code went to +15551234567 through the provider" grep -q "^+15551234567	" "$WORK/sms"
# TO<TAB>TEXT: the code is in the text (the number has digits too).
sms_code=$(tail -n 1 "$WORK/sms" | cut -f2 | grep -o '[0-9]\{6,8\}' | head -n 1)
check "mfa phone add --confirm CODE saves the number" sh -c \
    "mfa phone add --user $alice --confirm '$sms_code' | grep -q 'Added sms ending 67'"
check "mfa methods lists it as an sms method" sh -c "mfa methods --user $alice --json | grep -q '\"kind\": \"sms\"'"
mfa unlock --user "$alice" >/dev/null
expect tests/e2e/ssh_sms.exp "$PASS" "$WORK/sms" "${SSH[@]}" -o PubkeyAuthentication=no \
    -o PreferredAuthentications=keyboard-interactive -p "$PORT" "$alice@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
    >"$WORK/last" 2>&1
judge "ssh: password, then sms, then the code from the text message logs in" \
    'ran_as "$alice" && grep -q "(or type: sms)" "$WORK/last" && grep -q "Code sent by text message to the number ending 67" "$WORK/last"'
stop_gateway
no_codes() {
    local code
    for code in $(cut -f2 "$WORK/sms" | grep -o '[0-9]\{6,8\}'); do
        ! grep -qF "$code" "$WORK/gateway-sms.log" "$WORK/mfad.log" || return 1
    done
    ! grep -qF "$(cat /etc/mfa-gateway/sms-password)" "$WORK/gateway-sms.log" "$WORK/mfad.log"
}
check "no text-message code and no provider password in the gateway's or mfad's log" no_codes
kill "$sms_pid" 2>/dev/null
wait "$sms_pid" 2>/dev/null
sms_pid=
