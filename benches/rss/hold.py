#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET on each and reads its answer,
then holds them all open until told (a line on stdin), then closes them.

Usage: hold.py HOST PORT N PATH
Prints "held N" once every connection has had its answer, "closed" after closing them.
Loopback only: the benchmark never sends traffic elsewhere."""
import resource
import socket
import sys

host, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))
request = f"GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n".encode()
conns = []
for _ in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(request)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the server closed a connection")
        got += chunk
    conns.append(s)
print(f"held {len(conns)}", flush=True)
sys.stdin.readline()
for s in conns:
    s.close()
print("closed", flush=True)
