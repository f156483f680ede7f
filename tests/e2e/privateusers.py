#!/usr/bin/python3
# Run a command as USER inside a user namespace shaped like the one
# systemd 252 builds for PrivateUsers=yes: only root and USER (and their
# groups) are mapped, every other uid shows as nobody. tests/e2e/run.sh
# starts mfa-gateway this way to check, without a running systemd, that
# the packaged unit's PrivateUsers=yes keeps SO_PEERCRED reporting mfad
# as root, so the gateway still trusts mfad's socket.
#
# usage: privateusers.py USER COMMAND ARGS...   (run as root; execs COMMAND)
import ctypes
import os
import pwd
import sys

CLONE_NEWUSER = 0x10000000

user, cmd = sys.argv[1], sys.argv[2:]
pw = pwd.getpwnam(user)
libc = ctypes.CDLL(None, use_errno=True)

# A process cannot map more than its own uid into a namespace it is in:
# a helper left in the parent namespace (root there) writes the maps,
# as systemd's own helper does.
ready_r, ready_w = os.pipe()
me = os.getpid()
helper = os.fork()
if helper == 0:
    os.close(ready_w)
    os.read(ready_r, 1)
    with open(f"/proc/{me}/uid_map", "w") as f:
        f.write(f"0 0 1\n{pw.pw_uid} {pw.pw_uid} 1\n")
    with open(f"/proc/{me}/gid_map", "w") as f:
        f.write(f"0 0 1\n{pw.pw_gid} {pw.pw_gid} 1\n")
    os._exit(0)
os.close(ready_r)
if libc.unshare(CLONE_NEWUSER) != 0:
    err = ctypes.get_errno()
    sys.exit(f"privateusers: unshare(CLONE_NEWUSER): {os.strerror(err)}")
os.write(ready_w, b"x")
os.close(ready_w)
_, status = os.waitpid(helper, 0)
if status != 0:
    sys.exit("privateusers: writing the uid/gid maps failed")
os.setgroups([])
os.setgid(pw.pw_gid)
os.setuid(pw.pw_uid)
os.execv(cmd[0], cmd)
