"""The access log: by default only requests an operator acts on (4xx, 5xx); ACCESS_LOG=all logs all."""

import time

from tests.shop_process import Shopper


def output_once_it_shows(app, line: str, timeout: float = 10) -> str:
    """The shop's output once `line` is in it (a request is logged just after its answer is sent)."""
    deadline = time.monotonic() + timeout
    while line not in (output := app.output()):
        assert time.monotonic() < deadline, f"{line!r} never logged:\n{output}"
        time.sleep(0.05)
    return output


def test_the_default_access_log_keeps_errors_and_skips_successes(start_app):
    app = start_app("file", WORKERS="1")
    shopper = Shopper(app.url)
    assert shopper.get("/").status == 200
    assert shopper.get("/no-such-page").status == 404
    # One process logs in order: once the 404 is there, a line for the 200 would be too.
    log = output_once_it_shows(app, "404 GET /no-such-page")
    assert "200 GET / (" not in log


def test_access_log_all_logs_every_request(start_app):
    app = start_app("file", WORKERS="1", ACCESS_LOG="all")
    assert Shopper(app.url).get("/").status == 200
    output_once_it_shows(app, "200 GET / (")
