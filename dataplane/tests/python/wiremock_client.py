"""WireMock's own Python client library (PyPI `wiremock`), unchanged, against
`mockplane dataplane --wiremock DIR --wiremock-admin`: stubs created, requests counted and
found, scenarios reset, stubs deleted and reset, as a test suite written for WireMock does.

Usage: python wiremock_client.py path/to/mockplane
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from wiremock.constants import Config
from wiremock.resources.mappings import HttpMethods, Mapping, MappingRequest, MappingResponse
from wiremock.resources.mappings.resource import Mappings
from wiremock.resources.near_misses import NearMissMatchPatternRequest
from wiremock.resources.requests.resource import Requests
from wiremock.resources.scenarios.resource import Scenarios


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start(binary, root):
    proc = subprocess.Popen(
        [binary, "--log-format", "json", "dataplane", "--wiremock", root, "--wiremock-admin",
         "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1"],
        stderr=subprocess.PIPE, text=True, env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
    )
    listen = admin = None
    for line in proc.stderr:
        log = json.loads(line)
        fields = log.get("fields", log)
        if "data plane serving" in line:
            listen = fields["listen"]
        elif "admin endpoints serving" in line:
            admin = fields["admin"]
        if listen and admin:
            return proc, f"http://{listen}", f"http://{admin}"
    raise SystemExit("the data plane never announced its listeners")


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(f"{root}/mappings")
        with open(f"{root}/mappings/folder.json", "w") as f:
            json.dump({"request": {"method": "GET", "urlPath": "/from-folder"}, "response": {"body": "folder"}}, f)
        proc, mocks, admin = start(binary, root)
        try:
            Config.base_url = f"{admin}/__admin"

            created = Mappings.create_mapping(Mapping(
                priority=1,
                request=MappingRequest(method=HttpMethods.GET, url="/hello?lang=en"),
                response=MappingResponse(status=200, body="hi", headers={"Content-Type": "text/plain"}),
            ))
            assert created.id, "the stub was given an id"
            assert get(f"{mocks}/hello?lang=en") == (200, "hi"), get(f"{mocks}/hello?lang=en")
            assert get(f"{mocks}/hello?lang=fr")[0] == 404

            count = Requests.get_matching_request_count(NearMissMatchPatternRequest(method=HttpMethods.GET, url="/hello?lang=en"))
            assert count.count == 1, count
            found = Requests.get_matching_requests(NearMissMatchPatternRequest(method=HttpMethods.GET, url_path="/hello"))
            assert [r.url for r in found.requests] == ["/hello?lang=en", "/hello?lang=fr"], found

            Scenarios.reset_all_scenarios()
            Requests.reset_request_journal()
            count = Requests.get_matching_request_count(NearMissMatchPatternRequest(method=HttpMethods.ANY, url_pattern="/.*"))
            assert count.count == 0, count

            Mappings.delete_all_mappings()
            assert get(f"{mocks}/hello?lang=en")[0] == 404
            assert get(f"{mocks}/from-folder")[0] == 404, "DELETE removes the folder's stubs too"
            Mappings.reset_mappings()
            assert get(f"{mocks}/from-folder") == (200, "folder")
            assert get(f"{mocks}/hello?lang=en")[0] == 404, "reset keeps only the folder's stubs"
            print("the WireMock Python client works against mockplane: create, count, find, reset, delete")
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
