"""An independent client of the GraphQL admin API: Python's `gql` library, its HTTP transport
for queries and mutations and its WebSocket transport (graphql-transport-ws) for subscriptions,
against a real `mockplane up`.

    python gql_flow.py path/to/mockplane

Starts `mockplane up` on ephemeral ports in a temporary folder, checks the schema fetched by
introspection, subscribes to ruleEvents, creates a project, an environment-wide rule set and a
rule by mutation, sees the subscription's event, hears the data plane answer with the new
rule, rolls it back, sees a refused mutation's error code and places, and stops `up` with
SIGTERM. Exits non-zero on the first thing that is not as it should be.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from gql.transport.websockets import WebsocketsTransport

KEY = "a-key-for-the-python-client-0123"


def start_up(binary, data_dir):
    args = [binary, "up", "--data-dir", data_dir, "--api-key", KEY, "--workers", "1"]
    for flag in ("--api-listen", "--xds-listen", "--listen", "--admin"):
        args += [flag, "127.0.0.1:0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    urls = {}
    deadline = time.time() + 120
    for line in proc.stdout:
        words = line.split()
        for label, key in (("mocks", "mocks"), ("GraphQL", "api")):
            if words and words[0] == label:
                urls[key] = next(w for w in words if w.startswith("http://"))
        if words and words[0] == "store":
            break
        if time.time() > deadline:
            raise SystemExit("mockplane up printed no banner")
    assert "mocks" in urls and "api" in urls, urls
    return proc, urls


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for_answer(url, body, within=2.0):
    deadline = time.time() + within
    while True:
        status, text = get(url)
        if text == body:
            return time.time() - (deadline - within)
        if time.time() > deadline:
            raise SystemExit(f"{url} answered {status} {text!r}, not {body!r}, within {within} s")
        time.sleep(0.01)


async def flow(urls):
    api = urls["api"]
    auth = {"Authorization": f"Bearer {KEY}"}
    http = Client(
        transport=RequestsHTTPTransport(url=api, headers=auth, timeout=10),
        fetch_schema_from_transport=True,
    )
    ws = WebsocketsTransport(
        url=api.replace("http://", "ws://") + "/ws",
        init_payload=auth,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=ws) as subscriber:
        events = subscriber.subscribe(
            gql('subscription { ruleEvents(environment: "default/default") { kind action actor changed { id revision } } }')
        )
        first_event = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.3)  # the subscription in place

        with http as session:
            # The schema came by introspection, and the documents are validated against it.
            names = {t for t in session.client.schema.type_map}
            for name in ("Rule", "RuleEvent", "ChangeInfo", "Mutation", "Subscription"):
                assert name in names, f"{name} not in the introspected schema"
            me = session.execute(gql("{ whoami { keyName role } }"))
            assert me == {"whoami": {"keyName": "admin", "role": "ADMIN"}}, me

            created = session.execute(
                gql("mutation($rule: JSON!) { createRule(input: {environment: \"default/default\", rule: $rule}) { rule { id revision } change { xdsVersion } } }"),
                variable_values={"rule": {"id": "py", "match": {"path": "/from-python"}, "response": {"body": "hello, gql"}}},
            )
            assert created["createRule"]["rule"] == {"id": "py", "revision": 1}, created
            took = wait_for_answer(urls["mocks"] + "/from-python", "hello, gql")
            print(f"createRule -> served by the data plane in {took * 1000:.0f} ms")

            event = (await asyncio.wait_for(first_event, 10))["ruleEvents"]
            assert event == {"kind": "CHANGED", "action": "createRule", "actor": "admin", "changed": [{"id": "py", "revision": 1}]}, event

            session.execute(
                gql('mutation { updateRule(input: {environment: "default/default", id: "py", rule: {match: {path: "/from-python"}, response: {body: "changed"}}}) { rule { revision } } }')
            )
            wait_for_answer(urls["mocks"] + "/from-python", "changed")
            back = session.execute(
                gql('mutation { rollbackRule(input: {environment: "default/default", id: "py", revision: 1}) { rule { revision } } }')
            )
            assert back["rollbackRule"]["rule"]["revision"] == 3, back
            wait_for_answer(urls["mocks"] + "/from-python", "hello, gql")

            try:
                session.execute(
                    gql("mutation($rule: JSON!) { createRule(input: {environment: \"default/default\", rule: $rule}) { rule { id } } }"),
                    variable_values={"rule": {"id": "bad", "match": {"path": "/bad"}, "response": {"status": 999}}},
                )
                raise SystemExit("an invalid rule was accepted")
            except TransportQueryError as e:
                error = e.errors[0]
                assert error["extensions"]["code"] == "INVALID_INPUT", error
                places = [p["place"] for p in error["extensions"]["errors"]]
                assert places == ["input.rule.response.status"], places
            status, _ = get(urls["mocks"] + "/bad")
            assert status == 404, status
        await events.aclose()  # ends the subscription: `complete` goes to the server
    print("the gql client's mutations and subscription went as expected")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as data_dir:
        proc, urls = start_up(binary, data_dir)
        try:
            asyncio.run(flow(urls))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise SystemExit("mockplane up did not stop on SIGTERM")
        if code != 0:
            raise SystemExit(f"mockplane up exited with {code}")


if __name__ == "__main__":
    main()
