# Sourced by run.sh: "More information required" through the installed
# packages. mfad restarts with [enrollment] mode = "required"; frank has a
# password and no second factor. A wrong password, over SSH or at the
# console (Debian's common-auth with the pam-auth-update profile), never
# reaches the enrollment screen and stores nothing; the right one walks
# him through it inside the SSH session, and his next login asks for a
# code as usual.

echo "== first login enrolls (More information required)"
stop_mfad
printf '[push]\ngateway_user = "mfa-gateway"\n\n[enrollment]\nmode = "required"\n' >/etc/mfad/mfad.toml
/usr/sbin/mfad 2>>"$WORK/mfad.log" &
mfad_pid=$!
for _ in $(seq 100); do
    runuser -u mfa-e2e-bob -- python3 -c "import socket; socket.socket(socket.AF_UNIX).connect('/run/mfad.sock')" 2>/dev/null && break
    sleep 0.05
done
frank=mfa-e2e-frank
mfa doctor >"$WORK/doctor-enroll.log" 2>&1
check "mfa doctor: with enrollment at login, the profile's place in sshd's stack is safe" \
    grep -q "^OK   pam sshd: common-auth:.*pam_mfa.so after the primary factor" "$WORK/doctor-enroll.log"

expect tests/e2e/ssh.exp "not-the-password" "000000" "${SSH[@]}" -o PubkeyAuthentication=no \
    -o PreferredAuthentications=keyboard-interactive -p "$PORT" "$frank@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
    >"$WORK/last" 2>&1
judge "ssh: a wrong password never reaches the enrollment screen" \
    '! ran_as "$frank" && grep -q "Permission denied" "$WORK/last" && ! grep -q "More information" "$WORK/last" && ! grep -q otpauth "$WORK/last"'
expect tests/e2e/ssh.exp "not-the-password" "000000" pamtester login "$frank" authenticate >"$WORK/last" 2>&1
judge "console login (pamtester, common-auth): a wrong password never reaches it either" \
    '! grep -q "successfully authenticated" "$WORK/last" && ! grep -q "More information" "$WORK/last"'
check "nothing was stored for the wrong passwords" sh -c \
    "mfa status --user $frank >/dev/null; test \$? -eq 1 && ! grep -q 'enroll_at_login user=\"$frank\"' '$WORK/mfad.log'"

expect tests/e2e/ssh_enroll.exp "$PASS" "${SSH[@]}" -o PubkeyAuthentication=no \
    -o PreferredAuthentications=keyboard-interactive -p "$PORT" "$frank@127.0.0.1" 'echo E2E-RAN-AS $(id -un)' \
    >"$WORK/last" 2>&1
judge "ssh: first login shows the QR code, key and URI, takes the app's code and logs in" \
    'ran_as "$frank" && grep -q "More information required" "$WORK/last" && grep -q "^otpauth://totp/" "$WORK/last" &&
     grep -q "█" "$WORK/last" && grep -q "recovery codes" "$WORK/last"'
frank_key=$(sed -n 's/.*key into the app: \([A-Z2-7 ]*\).*/\1/p' "$WORK/last" | head -1 | tr -d ' \r')
check "mfa status: frank is enrolled now" mfa status --user "$frank"
check "mfad's audit log has the enrollment at login" grep -q "audit enroll_at_login user=\"$frank\" service=\"sshd\".*outcome=enrolled" "$WORK/mfad.log"
ssh_pw "$frank" "$PORT" "$(code_now "$frank_key" 30)"
judge "ssh: his next login asks for a code as usual" \
    'ran_as "$frank" && grep -q "Verification code:" "$WORK/last" && ! grep -q "More information" "$WORK/last"'
