#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A second, independent ktbpfd client: the protocol stands on its own.

Standard library only. Starts $KTBPFD on a fresh socket, registers a memfd
holding a kit guest (written by $KIT_GUEST_FILE) with one sendmsg carrying the
fd (socket.send_fds), waits until the daemon has discovered the kernel, reads
a snapshot and requires it to equal `$KTBPFCTL inspect --json` on the same
image, timing fields aside. Exit 0 on success, 1 on a mismatch or error.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIMING = {"walk_ns", "discover_ns", "freeze_ns", "frozen", "repeat", "time_unix_ns"}


def strip(v):
    """The document without timing fields, at any depth."""
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMING}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.next_id = 1

    def call(self, method, params=None, fds=()):
        req = {"jsonrpc": "2.0", "method": method, "id": self.next_id}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        line = (json.dumps(req, separators=(",", ":")) + "\n").encode()
        if fds:
            # The fds travel with the first byte of the request's line.
            sent = socket.send_fds(self.s, [line], list(fds))
            self.s.sendall(line[sent:])
        else:
            self.s.sendall(line)
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("ktbpfd closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("id") == req["id"]:
                return msg


def wait_for_socket(path, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("ktbpfd exited with %d" % proc.returncode)
        try:
            Conn(path).s.close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("ktbpfd did not listen on %s" % path)


def main():
    ktbpfd, ktbpfctl, kitfile = (os.environ[k] for k in ("KTBPFD", "KTBPFCTL", "KIT_GUEST_FILE"))
    with tempfile.TemporaryDirectory(prefix="ktbpf-py-") as tmp:
        image = os.path.join(tmp, "guest.ram")
        sock = os.path.join(tmp, "ktbpfd.sock")
        subprocess.run([kitfile, image], check=True)
        want = subprocess.run([ktbpfctl, "inspect", "--ram", image, "--json"], check=True,
                              capture_output=True, text=True).stdout
        proc = subprocess.Popen([ktbpfd, "--socket", sock])
        try:
            wait_for_socket(sock, proc)
            c = Conn(sock)
            info = c.call("daemon.info")
            assert "result" in info and info["result"]["version"], info

            # The guest's RAM in a memfd, as a VMM holds it.
            mfd = os.memfd_create("kit-guest", os.MFD_CLOEXEC)
            with open(image, "rb") as f:
                data = f.read()
            os.write(mfd, data)
            reg = c.call("vm.register", {
                "name": "py-guest", "arch": "x86_64", "fds": 1,
                "regions": [{"gpa": 0, "size": len(data), "fd": 0, "offset": 0}],
                "labels": {"client": "python"}}, fds=[mfd])
            os.close(mfd)
            assert "result" in reg, reg
            vm = reg["result"]["vm"]

            end = time.monotonic() + 20
            while True:
                snap = c.call("vm.snapshot", {"vm": vm, "freeze": "never"})
                if "result" in snap:
                    break
                err = snap["error"]
                if err["data"]["kind"] != "kernel_not_ready" or time.monotonic() > end:
                    raise RuntimeError("vm.snapshot: %s" % json.dumps(err))
                time.sleep(0.05)
            got = snap["result"]
            assert got["frozen"] is False, got
            if strip(got) != strip(json.loads(want)):
                print("daemon:  " + json.dumps(strip(got), sort_keys=True), file=sys.stderr)
                print("inspect: " + json.dumps(strip(json.loads(want)), sort_keys=True),
                      file=sys.stderr)
                raise RuntimeError("vm.snapshot differs from ktbpfctl inspect --json")
            assert len(got["progs"]) > 0, got

            listed = c.call("vm.list")["result"]["vms"]
            assert [v["name"] for v in listed] == ["py-guest"], listed
            assert "result" in c.call("vm.unregister", {"vm": vm})
            c.s.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=10)
        if rc != 0:
            raise RuntimeError("ktbpfd exited with %d after SIGTERM" % rc)
    print("ok: a Python client registered a memfd guest and read its %d programs" %
          len(got["progs"]))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # one line a person can act on, then fail
        print("test-protocol: %s" % e, file=sys.stderr)
        sys.exit(1)
