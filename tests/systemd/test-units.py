#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""systemd/: the units verify, the service's sandbox rates 2.0 or lower, and
ktbpfd started the way ktbpfd.socket starts it (systemd-socket-activate, no
systemd as PID 1 needed) tells a NOTIFY_SOCKET READY=1, STATUS= with its VM
count, WATCHDOG=1 (WATCHDOG_USEC set), answers daemon.info on the activated
socket, updates STATUS= when a VM registers, and says STOPPING=1 and exits 0 on SIGTERM.

Usage: test-units.py SERVICE_IN SOCKET_UNIT KTBPFD. Standard library only.
The systemd tools (systemd-analyze, systemd-socket-activate: Debian's
systemd package) missing is a failure under CI=true, a skip (77) otherwise.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("test-units: " + msg, file=sys.stderr)
    sys.exit(1)


def tools():
    missing = [t for t in ("systemd-analyze", "systemd-socket-activate") if not shutil.which(t)]
    if missing:
        msg = "missing %s (Debian package systemd)" % ", ".join(missing)
        if os.environ.get("CI") == "true":
            fail(msg)
        print("SKIP: " + msg)
        sys.exit(77)


def check_units(service_in, socket_unit, ktbpfd, tmp):
    # The installed unit has ExecStart=@sbindir@/ktbpfd; verify checks that it is executable.
    service = os.path.join(tmp, "ktbpfd.service")
    with open(service_in) as f, open(service, "w") as out:
        out.write(f.read().replace("@sbindir@/ktbpfd", os.path.abspath(ktbpfd)))
    shutil.copy(socket_unit, os.path.join(tmp, "ktbpfd.socket"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", "ktbpfd.service", "ktbpfd.socket"],
                       cwd=tmp, capture_output=True, text=True)
    if r.returncode != 0 or r.stderr.strip():
        fail("systemd-analyze verify: rc %d: %s%s" % (r.returncode, r.stdout, r.stderr))
    # --threshold is on a 0..100 scale: 20 means an exposure of 2.0.
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                        "ktbpfd.service"], cwd=tmp, capture_output=True, text=True)
    level = [l for l in r.stdout.splitlines() if "Overall exposure level" in l]
    if r.returncode != 0 or not level:
        fail("systemd-analyze security: rc %d: %s" % (r.returncode, "".join(level) or r.stdout))
    print("security: " + level[0].split("ktbpfd.service:")[-1].strip())


def recv_notify(ns, want, deadline):
    """Datagrams until one holds want; returns every line seen."""
    seen = []
    while time.monotonic() < deadline:
        ns.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            break
        seen += msg.split("\n")
        if any(l.startswith(want) for l in seen):
            return seen
    fail("no %s from ktbpfd (got %r)" % (want, seen))


def check_activation(ktbpfd, tmp):
    sock = os.path.join(tmp, "ktbpfd.sock")
    notify = os.path.join(tmp, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    proc = subprocess.Popen(["systemd-socket-activate", "-l", sock, "--fdname=control",
                             "-E", "NOTIFY_SOCKET=" + notify, "-E", "WATCHDOG_USEC=400000",
                             # as StateDirectory= would: the dump store in the test's directory
                             "-E", "STATE_DIRECTORY=" + os.path.join(tmp, "state"),
                             ktbpfd], stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 10
        while not os.path.exists(sock):
            if time.monotonic() > end or proc.poll() is not None:
                fail("systemd-socket-activate did not listen on %s" % sock)
            time.sleep(0.02)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)  # the first connection starts ktbpfd with the socket as fd 3
        seen = recv_notify(ns, "READY=1", time.monotonic() + 10)
        if not any(l.startswith("STATUS=serving 0 VM(s)") for l in seen):
            fail("READY=1 came without STATUS= and the VM count: %r" % seen)
        c.sendall(b'{"jsonrpc":"2.0","method":"daemon.info","id":1}\n')
        c.settimeout(10)
        buf = b""
        while b"\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                fail("ktbpfd closed the activated socket")
            buf += chunk
        info = json.loads(buf.split(b"\n")[0])
        if "result" not in info or not info["result"].get("version"):
            fail("daemon.info: %r" % info)
        # A VM registered (1 MiB of zeros: the kernel is never found, which is fine here)
        # shows in STATUS= within the refresh period (1 s).
        mfd = os.memfd_create("zeros", os.MFD_CLOEXEC)
        os.ftruncate(mfd, 1 << 20)
        req = {"jsonrpc": "2.0", "id": 2, "method": "vm.register", "params": {
            "name": "zeros", "arch": "x86_64", "fds": 1,
            "regions": [{"gpa": 0, "size": 1 << 20, "fd": 0}]}}
        socket.send_fds(c, [(json.dumps(req) + "\n").encode()], [mfd])
        os.close(mfd)
        recv_notify(ns, "STATUS=serving 1 VM(s)", time.monotonic() + 5)
        # WATCHDOG_USEC=0.4 s: a ping at least every 0.2 s.
        recv_notify(ns, "WATCHDOG=1", time.monotonic() + 2)
        c.close()
        proc.send_signal(signal.SIGTERM)  # exec'd in place: the same pid is ktbpfd
        recv_notify(ns, "STOPPING=1", time.monotonic() + 10)
        rc = proc.wait(timeout=15)
        if rc != 0:
            fail("ktbpfd exited %d after SIGTERM: %s" % (rc, proc.stderr.read()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("socket activation: READY=1, STATUS= (0, then 1 VM), WATCHDOG=1, daemon.info, STOPPING=1, exit 0")


def main():
    if len(sys.argv) != 4:
        fail("usage: test-units.py SERVICE_IN SOCKET_UNIT KTBPFD")
    tools()
    with tempfile.TemporaryDirectory(prefix="ktbpf-units-") as tmp:
        check_units(sys.argv[1], sys.argv[2], sys.argv[3], tmp)
        check_activation(os.path.abspath(sys.argv[3]), tmp)


if __name__ == "__main__":
    main()
