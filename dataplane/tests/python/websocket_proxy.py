"""A real WebSocket client and server (PyPI `websockets`) with `mockplane dataplane --rules FILE
--upstream HOST:PORT` between them, as a sidecar in front of a service that speaks WebSocket:
the handshake is forwarded, messages of every kind and size cross the tunnel both ways, pings
are answered, the close handshake reaches both ends, and the mocked route still answers.

Usage: python websocket_proxy.py path/to/mockplane
"""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def start_data_plane(binary, rules, upstream):
    proc = subprocess.Popen(
        [binary, "--log-format", "json", "dataplane", "--rules", rules, "--upstream", upstream,
         "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1"],
        stderr=subprocess.PIPE, text=True, env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
    )
    for line in proc.stderr:
        if "data plane serving" in line:
            log = json.loads(line)
            return proc, log.get("fields", log)["listen"]
    raise SystemExit("the data plane never announced its listener")


async def main(binary):
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with tempfile.TemporaryDirectory() as root:
            rules = f"{root}/rules.yaml"
            with open(rules, "w") as f:
                f.write("rules:\n  - { id: mocked, match: { path: /mocked }, response: { body: from the mock } }\n")
            proc, listen = start_data_plane(binary, rules, f"127.0.0.1:{port}")
            try:
                async with websockets.connect(f"ws://{listen}/chat", max_size=4 << 20) as ws:
                    await ws.send("hello")
                    assert await ws.recv() == "hello"
                    big = bytes(i % 251 for i in range(1 << 20))
                    await ws.send(big)
                    assert await ws.recv() == big, "a 1 MiB binary message comes back whole"
                    for i in range(100):
                        await ws.send(f"message {i}")
                    for i in range(100):
                        assert await ws.recv() == f"message {i}"
                    pong = await ws.ping(b"are you there")
                    await asyncio.wait_for(pong, 5)
                    await ws.close(code=1000, reason="done")
                    assert ws.close_code == 1000, ws.close_code
                # The data plane still mocks what its rules match, beside the tunnel.
                url = f"http://{listen}/mocked"
                body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
                assert body == b"from the mock", body
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    print("websocket through the proxy: handshake, 1 MiB and 100 messages echoed, ping, close 1000: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
