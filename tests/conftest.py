"""Fixtures shared by the tests: a test Config on a temporary DATA_DIR, the app for pytest-tornado,
a cookie-keeping client that sends the _xsrf token like a browser form, an `auth` helper, and
`start_app` for the tests that need a real `python app.py` (tests/shop_process.py).

Modelled on Flask's tutorial (flaskr): an application factory fed a test config, and helpers with
login()/logout().
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from tornado.httpclient import HTTPResponse

from handlers.application import create_app
from config import Config
from sessions import registry
from tests.pages import Page
from tests.servers import RedisServer
from tests.shop_process import AppProcess, free_port

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo1234"
SHIPPING = {"name": "Dana Demo", "street": "1 Harbour Street", "city": "Springfield", "postcode": "12345", "country": "DE"}

_XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')


@pytest.fixture
def make_config(tmp_path):
    """Build a Config from the given environment variables, on a fresh DATA_DIR under tmp_path."""

    def make(**environ: str) -> Config:
        environ = {"DATA_DIR": str(tmp_path / "data"), "SESSION_REAP_INTERVAL": "0", **environ}
        return Config.from_env(environ)

    return make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the whole run (skips, or fails under CI=true, without one).
    Tests keep apart by a key prefix of their own rather than by flushing."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=registry.names())
def session_backend(request):
    """Every test that uses the app runs against each registered session backend."""
    return request.param


@pytest.fixture
def backend_environment(session_backend, request) -> dict[str, str]:
    """The environment variables that select the session backend under test (a Redis of the
    test run's own, under a key prefix of this test's own)."""
    if session_backend == "redis":
        url = request.getfixturevalue("redis_server").url
        return {"SESSION_BACKEND": "redis", "REDIS_URL": url, "SESSION_REDIS_PREFIX": f"test:{secrets.token_hex(6)}:"}
    return {"SESSION_BACKEND": session_backend}


@pytest.fixture
def config(make_config, backend_environment):
    return make_config(**backend_environment)


@pytest.fixture
def app(config, io_loop):
    application = create_app(config)
    yield application
    io_loop.run_sync(application.close)


class Client:
    """One browser without JavaScript: keeps its cookies, and posts forms with their _xsrf field."""

    def __init__(self, http_client, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self._xsrf: str | None = None

    async def fetch(self, path: str, *, method: str = "GET", body: str | None = None,
                    headers: dict[str, str] | None = None) -> HTTPResponse:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = await self.http_client.fetch(
            self.base_url + path, method=method, body=body, headers=headers,
            follow_redirects=False, raise_error=False,
        )
        self._keep_cookies(response)
        return response

    async def get(self, path: str, **options) -> HTTPResponse:
        return await self.fetch(path, **options)

    async def post(self, path: str, data: dict[str, str] | None = None, *, xsrf: bool = True,
                   headers: dict[str, str] | None = None) -> HTTPResponse:
        fields = dict(data or {})
        if xsrf:
            fields["_xsrf"] = await self.xsrf_token()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return await self.fetch(path, method="POST", body=urllib.parse.urlencode(fields), headers=headers)

    async def xsrf_token(self) -> str:
        """The token from a page's form, as a browser would send it."""
        if self._xsrf is None or "_xsrf" not in self.cookies:
            response = await self.get("/login")
            self._xsrf = _XSRF_FIELD.search(response.body.decode()).group(1)
        return self._xsrf

    async def page(self, path: str) -> Page:
        response = await self.get(path)
        assert response.code == 200, f"GET {path} answered {response.code}"
        return Page(response.body.decode(), status=response.code, url=response.effective_url)

    @staticmethod
    def page_of(response: HTTPResponse) -> Page:
        return Page(response.body.decode(), status=response.code, url=response.effective_url)

    async def cart(self) -> dict:
        response = await self.get("/api/cart")
        assert response.code == 200
        return json.loads(response.body)

    async def cart_quantities(self) -> dict[str, int]:
        return {line["product_id"]: line["quantity"] for line in (await self.cart())["lines"]}

    async def add(self, product_id: str, quantity: int | str = 1) -> HTTPResponse:
        return await self.post("/cart/add", {"product_id": product_id, "quantity": str(quantity)})

    def _keep_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"] or not morsel.value.strip('"'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value


class AuthActions:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def login(self, username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD, **extra) -> HTTPResponse:
        return await self.client.post("/login", {"username": username, "password": password, **extra})

    async def register(self, username: str, password: str = "correct horse") -> HTTPResponse:
        return await self.client.post("/register", {"username": username, "password": password})

    async def logout(self) -> HTTPResponse:
        return await self.client.post("/logout")


@pytest.fixture
def make_client(app, http_client, base_url):
    """A factory of independent browsers (separate cookie jars) against the test server."""
    return lambda: Client(http_client, base_url)


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def product_ids(app):
    return [product.id for product in app.catalog.search()]


@pytest.fixture
def start_app(tmp_path):
    """start_app(backend, data_dir=None, **environ) -> a running `python app.py` (an AppProcess) on a
    free port. data_dir defaults to one folder per backend, so a second start of the same backend
    shares it; every process started is killed at teardown."""
    started: list[AppProcess] = []

    def start(backend: str, data_dir: Path | None = None, **environ: str) -> AppProcess:
        data_dir = data_dir or tmp_path / f"data-{backend}"
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = tmp_path / f"app{len(started) + 1}-{backend}.log"
        app = AppProcess(data_dir, backend, free_port(), log_path, environ)
        started.append(app)
        return app.start()

    yield start
    failures = []
    for app in started:
        try:
            app.kill9()
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)
