#!/usr/bin/env python3
"""An independent xDS client: grpcio, with stubs generated from the repo's own .proto files.

It starts `mockplane controlplane` on a rules file and checks, over a real gRPC stream, that the
server behaves as docs/xds.md says: the first request gets the current version; an ACK is
followed by nothing until the file changes; a NACK is not answered with a resend; a request
bearing a stale nonce is ignored; a data plane reconnecting with the current version gets
nothing until the next change; an invalid edit is never pushed.

    python3 proto/tests/python/xds_client.py target/debug/mockplane

Needs grpcio and grpcio-tools (pip). Exits non-zero, naming the failed check, on any failure.
"""

import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROTO = os.path.join(REPO, "proto", "proto")
TYPE_URL = "type.googleapis.com/mockplane.config.v1.RuleSet"
ENV = "shop/staging"
QUIET = 1.0  # seconds of silence that count as "nothing was sent"


def generate_stubs(out):
    from grpc_tools import protoc
    import importlib.resources

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    files = [
        "envoy/service/discovery/v3/discovery.proto",
        "envoy/config/core/v3/base.proto",
        "google/rpc/status.proto",
        "mockplane/config/v1/rules.proto",
    ]
    args = ["protoc", f"-I{PROTO}", f"-I{well_known}", f"--python_out={out}", f"--grpc_python_out={out}"] + files
    if protoc.main(args) != 0:
        sys.exit("protoc failed on the repo's .proto files")
    sys.path.insert(0, out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rules_yaml(body):
    return f"rules:\n  - id: hello\n    match: {{ method: GET, path: /hello }}\n    response: {{ body: {body!r} }}\n"


def write(path, text):
    # Write to a temp file and rename, so the watcher never reads half a file.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


class Stream:
    """One ADS stream: requests go in through a queue, responses come out through another."""

    def __init__(self, stub, discovery, first):
        self.requests = queue.Queue()
        self.responses = queue.Queue()
        self.requests.put(first)
        self.call = stub.StreamAggregatedResources(iter(self.requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for response in self.call:
                self.responses.put(response)
        except Exception as e:  # the stream ended or failed; tell the reader
            self.responses.put(e)

    def next(self, what, timeout=10.0):
        try:
            r = self.responses.get(timeout=timeout)
        except queue.Empty:
            fail(f"{what}: no response within {timeout} s")
        if isinstance(r, Exception):
            fail(f"{what}: the stream failed: {r}")
        return r

    def quiet(self, what):
        try:
            r = self.responses.get(timeout=QUIET)
        except queue.Empty:
            return
        fail(f"{what}: expected nothing, got {r}")

    def send(self, request):
        self.requests.put(request)

    def close(self):
        self.requests.put(None)
        self.call.cancel()


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "debug", "mockplane")
    work = tempfile.mkdtemp(prefix="mockplane-xds-py-")
    generate_stubs(work)
    import grpc
    from envoy.service.discovery.v3 import discovery_pb2 as discovery, discovery_pb2_grpc
    from envoy.config.core.v3 import base_pb2 as base
    from google.rpc import status_pb2
    from mockplane.config.v1 import rules_pb2

    rules = os.path.join(work, "rules.yaml")
    write(rules, rules_yaml("one"))
    port = free_port()
    server = subprocess.Popen(
        [binary, "controlplane", "--rules", rules, "--environment", ENV, "--xds-listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "controlplane.log"), "w"),
    )
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = discovery_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        node = base.Node(id="python-client", cluster=ENV, user_agent_name="grpcio")

        def request(version="", nonce="", error=None, with_node=False):
            r = discovery.DiscoveryRequest(version_info=version, type_url=TYPE_URL, response_nonce=nonce)
            if with_node:
                r.node.CopyFrom(node)
            if error is not None:
                r.error_detail.CopyFrom(status_pb2.Status(code=3, message=error))
            return r

        # Subscribe: the current version arrives, with the rule set as a typed resource.
        s = Stream(stub, discovery, request(with_node=True))
        v1 = s.next("first response")
        check(v1.type_url == TYPE_URL and v1.nonce != "" and v1.version_info.startswith("1-"), "the first request gets version 1 with a nonce")
        rule_set = rules_pb2.RuleSet()
        check(v1.resources[0].Unpack(rule_set), "the resource unpacks as mockplane.config.v1.RuleSet")
        check(rule_set.rules[0].id == "hello" and rule_set.rules[0].response.body == "one", "the rule set carries the file's rule")

        # ACK, then nothing until the file changes.
        s.send(request(v1.version_info, v1.nonce))
        s.quiet("after an ACK")
        write(rules, rules_yaml("two"))
        v2 = s.next("the version after an edit")
        check(v2.version_info.startswith("2-") and v2.nonce != v1.nonce, "an edit is pushed as version 2 with a fresh nonce")

        # NACK: recorded, not answered with a resend.
        s.send(request(v1.version_info, v2.nonce, error="python client refuses version 2"))
        s.quiet("after a NACK")
        check(True, "a NACK causes no resend")

        # A stale nonce (the first response's) is ignored: no answer, the stream stays open.
        s.send(request(v1.version_info, v1.nonce, error="stale complaint"))
        s.quiet("after a stale nonce")
        check(True, "a request with a stale nonce is ignored")

        # An invalid edit is refused by the control plane and never pushed.
        write(rules, "rules:\n  - id: hello\n    match: { path: { regex: '(' } }\n    response: {}\n")
        s.quiet("after an invalid edit")
        check(True, "an invalid edit is not pushed")
        write(rules, rules_yaml("three"))
        v3 = s.next("the version after a good edit")
        check(v3.version_info.startswith("3-"), "the next good edit is pushed as version 3")
        s.send(request(v3.version_info, v3.nonce))
        s.close()

        # Reconnecting with the current version: nothing until the next change.
        r = Stream(stub, discovery, request(v3.version_info, with_node=True))
        r.quiet("after reconnecting with the current version")
        check(True, "a reconnect with the current version causes no push")
        write(rules, rules_yaml("four"))
        v4 = r.next("the version after reconnecting")
        check(v4.version_info.startswith("4-"), "the next change reaches the reconnected stream")
        r.send(request(v4.version_info, v4.nonce))

        # Reconnecting with an old version: the current one at once.
        o = Stream(stub, discovery, request(v1.version_info, with_node=True))
        check(o.next("a reconnect with an old version").version_info == v4.version_info, "a reconnect with an old version gets the current one")
        o.close()
        r.close()

        # The proxy's settings travel too: an upstream in each form and the default route.
        p = Stream(stub, discovery, request(v4.version_info, with_node=True))
        write(rules, "upstreams:\n  app: http://127.0.0.1:8080\n  orders:\n    endpoints: [\"10.0.0.7:8080\", \"orders.internal:9090\"]\n    lb: least_request\n    retries: 1\nunmatched:\n  forward: { upstream: app }\n" + rules_yaml("five"))
        v5 = p.next("the version with upstreams")
        proxied = rules_pb2.RuleSet()
        check(v5.resources[0].Unpack(proxied), "the version with upstreams unpacks")
        orders = proxied.clusters["orders"]
        check(proxied.upstreams["app"] == "http://127.0.0.1:8080", "a short-form upstream is in RuleSet.upstreams")
        check(list(orders.endpoints) == ["10.0.0.7:8080", "orders.internal:9090"] and orders.lb == rules_pb2.LOAD_BALANCING_LEAST_REQUEST and orders.retries == 1, "a cluster is in RuleSet.clusters with its settings")
        check(proxied.unmatched.forward.upstream == "app", "the default route is in RuleSet.unmatched")
        p.send(request(v5.version_info, v5.nonce))
        p.close()

        # A first request without a node is refused with INVALID_ARGUMENT.
        bad = Stream(stub, discovery, request())
        try:
            r = bad.responses.get(timeout=10)
        except queue.Empty:
            fail("a stream without a node was neither refused nor answered")
        check(isinstance(r, grpc.RpcError) and r.code() == grpc.StatusCode.INVALID_ARGUMENT, "a stream without a node is refused with INVALID_ARGUMENT")
        print("PASS: the control plane behaves as an xDS server for an independent grpcio client")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            fail("the control plane did not stop on SIGTERM")
        if server.returncode not in (0, -15):
            print(open(os.path.join(work, "controlplane.log")).read(), file=sys.stderr)
            fail(f"the control plane exited with {server.returncode}")


if __name__ == "__main__":
    main()
