#!/usr/bin/env bash
# The main job, with the embedded default configuration and without
# touching /etc: build, start mfad on a socket and state directory in a
# temporary folder, enroll the current user (QR code on screen), then run a
# real PAM login through libpam (pam_start_confdir) that asks for the code
# from the phone and says whether the login was accepted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --workspace --quiet

tmp=$(mktemp -d)
mfad_pid=
cleanup() {
    [ -n "$mfad_pid" ] && kill "$mfad_pid" 2>/dev/null && wait "$mfad_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"

target/debug/mfad --socket "$tmp/mfad.sock" --state-dir "$tmp/state" 2>"$tmp/mfad.log" &
mfad_pid=$!
for _ in $(seq 100); do [ -S "$tmp/mfad.sock" ] && break; sleep 0.05; done
[ -S "$tmp/mfad.sock" ] || { cat "$tmp/mfad.log"; echo "mfad did not start" >&2; exit 1; }

user=$(id -un)
echo "== Enrolling $user with a temporary mfad (state in $tmp/state)"
target/debug/mfa --socket "$tmp/mfad.sock" enroll --user "$user"

mkdir -p "$tmp/pam.d"
echo "auth required $PWD/target/debug/libpam_mfa.so socket=$tmp/mfad.sock" >"$tmp/pam.d/mfa-demo"
echo
echo "== Logging in as $user through libpam with service file $tmp/pam.d/mfa-demo"
echo "   (the code used to enroll is spent: wait for the app to show the next one)"
set +e
target/debug/pamdrive --service mfa-demo --user "$user" --confdir "$tmp/pam.d" --interactive
rc=$?
set -e
echo
if [ "$rc" -eq 0 ]; then echo "Login ACCEPTED"; else echo "Login REJECTED (PAM code $rc)"; fi
echo "== What mfad logged:"
cat "$tmp/mfad.log"
exit "$rc"
