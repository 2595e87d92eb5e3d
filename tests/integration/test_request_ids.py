"""Request ids and the shop's log lines, against real `python app.py` processes (and the shipped
nginx.conf in front of one): one id per request, in nginx's log, the shop's lines and the answer;
an incoming id is kept only from a trusted proxy; the access log names the client behind it;
LOG_FORMAT=json writes one JSON object a line."""

from __future__ import annotations

import json
import re
import time
import urllib.request

from tests.nginx_server import NginxServer


def get(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        response = urllib.request.urlopen(request, timeout=15)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        response.read()
        return response


def logged(read_output, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (output := read_output()):
        assert time.monotonic() < deadline, f"{needle!r} never logged:\n{output[-3000:]}"
        time.sleep(0.05)
    return output


def test_a_request_through_nginx_carries_one_id_in_both_logs_and_the_answer(start_app, tmp_path):
    app = start_app("file", WORKERS="1", ACCESS_LOG="all", TRUSTED_PROXIES="127.0.0.1")
    nginx = NginxServer(tmp_path / "nginx", [app.port]).start()
    try:
        response = get(nginx.url + "/no-such-page")
        request_id = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id
        nginx_log = logged(nginx.output, f"request_id={request_id}")
        shop_log = logged(app.output, f"request_id={request_id}")
        nginx_lines = [line for line in nginx_log.splitlines() if request_id in line]
        shop_lines = [line for line in shop_log.splitlines() if request_id in line]
        assert len(nginx_lines) == 1 and '"GET /no-such-page' in nginx_lines[0], nginx_lines
        assert any("404 GET /no-such-page (127.0.0.1)" in line for line in shop_lines), shop_lines
        # A valid id the client sent is kept all the way; a broken one is replaced.
        kept = get(nginx.url + "/", {"X-Request-ID": "client-chosen-id-0001"})
        assert kept.headers["X-Request-ID"] == "client-chosen-id-0001"
        replaced = get(nginx.url + "/", {"X-Request-ID": "bad id\twith spaces"})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"])
    finally:
        nginx.stop()


def test_nginx_status_is_served_on_its_private_port_only(start_app, tmp_path):
    app = start_app("file", WORKERS="1")
    nginx = NginxServer(tmp_path / "nginx", [app.port]).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{nginx.status_port}/nginx-status", timeout=10) as response:
            assert b"Active connections:" in response.read()
        assert get(nginx.url + "/nginx-status").status == 404  # the public port passes it to the shop
    finally:
        nginx.stop()


def test_an_incoming_id_counts_only_from_a_trusted_proxy(start_app):
    untrusting = start_app("file", WORKERS="1", ACCESS_LOG="all")
    response = get(untrusting.url + "/", {"X-Request-ID": "made-up-by-a-client"})
    assert response.headers["X-Request-ID"] != "made-up-by-a-client"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_the_access_log_names_the_client_behind_a_trusted_proxy(start_app):
    app = start_app("file", WORKERS="1", ACCESS_LOG="all", TRUSTED_PROXIES="127.0.0.1")
    response = get(app.url + "/", {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "proxy-id-00000001"})
    assert response.headers["X-Request-ID"] == "proxy-id-00000001"
    output = logged(app.output, "request_id=proxy-id-00000001")
    line = next(line for line in output.splitlines() if "request_id=proxy-id-00000001" in line)
    assert "200 GET / (203.0.113.9)" in line, line


def test_log_format_json_writes_one_object_a_line_with_the_request_fields(start_app):
    app = start_app("file", WORKERS="1", ACCESS_LOG="all", LOG_FORMAT="json")
    response = get(app.url + "/product/no-such-product")
    request_id = response.headers["X-Request-ID"]
    output = logged(app.output, request_id)
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert {"time", "level", "logger", "message", "request_id", "route", "status", "duration"} <= set(entries[0])
    access = next(entry for entry in entries if entry["request_id"] == request_id and entry["logger"] == "tornado.access")
    assert access["route"] == "/product/{id}"
    assert access["status"] == 404
    assert access["level"] == "WARNING"
    assert isinstance(access["duration"], float) and access["duration"] >= 0
    assert access["message"].startswith("404 GET /product/no-such-product (127.0.0.1)")
    started = next(entry for entry in entries if "listening on" in entry["message"])
    assert started["request_id"] is None
