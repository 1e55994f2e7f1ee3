#!/usr/bin/env python3
"""Sends N keep-alive requests, one at a time, on one connection, and reads each answer.

Usage: client.py HOST:PORT N KIND     KIND: get (a curl-like GET, 3 headers) or post (a POST
with 7 headers and a 300-byte JSON body). Exits non-zero unless every answer is a 200.
"""
import socket
import sys

host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
kind = sys.argv[3]

if kind == "get":
    request = (
        b"GET /hello HTTP/1.1\r\nhost: 127.0.0.1:19400\r\nuser-agent: curl/8.5.0\r\naccept: */*\r\n\r\n"
    )
elif kind == "post":
    body = b'{"customer":"c-1234567890","items":[' + b",".join(
        b'{"sku":"sku-%04d","quantity":%d}' % (i, i % 3 + 1) for i in range(8)
    ) + b'],"note":"leave at the door, please"}'
    body = body[:300].ljust(300, b" ")
    request = (
        b"POST /orders HTTP/1.1\r\nhost: 127.0.0.1:19400\r\nuser-agent: python-requests/2.32\r\n"
        b"accept: application/json\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer 3f9a1c77e0b24d6e9a51c0de8b7f2a41\r\n"
        b"x-request-id: 7d4c2e1a-9b3f-4e8d-a6c5-0f1e2d3c4b5a\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    ) + body
else:
    sys.exit("KIND is get or post")

s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
for _ in range(n):
    s.sendall(request)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name == "content-length":
                    length = int(value)
            if len(buf) >= end + 4 + length:
                if not head.startswith("http/1.1 200"):
                    sys.exit("not a 200: " + head.splitlines()[0])
                buf = buf[end + 4 + length:]
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the server closed the connection")
        buf += chunk
s.close()
