"""The shop's settings: read once from the environment into a frozen Config, validated in one place.

Nothing else in the shop reads os.environ; everything else gets a Config passed in.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import secrets
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sessions import registry
from sessions.file_io import fsync_directory

from shop.db import check_database_url, mask_password, sqlite_path

REDIS_SCHEMES = ("redis", "rediss", "unix")
# errors: requests answered 4xx/5xx or slower than SLOW_REQUEST_SECONDS; all: every request.
ACCESS_LOG_CHOICES = ("errors", "all")
# text: `time LEVEL logger: message request_id=…`; json: one JSON object a line (handlers/logs.py).
LOG_FORMAT_CHOICES = ("text", "json")
# Under DATA_DIR: where each process writes its counts for /metrics (see Config.metrics_dir).
METRICS_FOLDER = "metrics"

COOKIE_SECRET_FILE = "cookie_secret"
MIN_SECRET_LENGTH = 16

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


class ConfigError(ValueError):
    """A setting that stops the start; str(error) is one line naming the variable, value and rule."""


@dataclass(frozen=True)
class Limits:
    """What one client may do: request sizes, connection timeouts, and how often it may try."""

    max_body_size: int = 32 * 1024
    header_timeout: int = 20
    body_timeout: int = 30
    max_connections: int = 1000
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    login_throttle_failures: int = 5
    login_throttle_delay: int = 1
    login_throttle_max_delay: int = 900
    register_per_minute: int = 5
    sessions_per_minute: int = 60

    @classmethod
    def from_env(cls, env: _Environment) -> Limits:
        limits = cls(
            max_body_size=env.whole_number("MAX_BODY_SIZE", 32 * 1024, lowest=1024, unit="a whole number of bytes"),
            header_timeout=env.whole_number("HEADER_TIMEOUT", 20, lowest=1, unit="a whole number of seconds"),
            body_timeout=env.whole_number("BODY_TIMEOUT", 30, lowest=1, unit="a whole number of seconds"),
            max_connections=env.whole_number("MAX_CONNECTIONS", 1000, lowest=1, unit="a whole number of connections"),
            trusted_proxies=_networks("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES")),
            login_throttle_failures=env.whole_number(
                "LOGIN_THROTTLE_FAILURES", 5, lowest=1, unit="a whole number of failed logins"),
            login_throttle_delay=env.whole_number(
                "LOGIN_THROTTLE_DELAY", 1, lowest=1, unit="a whole number of seconds"),
            login_throttle_max_delay=env.whole_number(
                "LOGIN_THROTTLE_MAX_DELAY", 900, lowest=1, unit="a whole number of seconds"),
            register_per_minute=env.whole_number(
                "REGISTER_PER_MINUTE", 5, lowest=1, unit="a whole number of registrations"),
            sessions_per_minute=env.whole_number(
                "SESSIONS_PER_MINUTE", 60, lowest=1, unit="a whole number of new sessions"),
        )
        if limits.login_throttle_max_delay < limits.login_throttle_delay:
            raise ConfigError(f"LOGIN_THROTTLE_MAX_DELAY={limits.login_throttle_max_delay} is not valid: expected "
                              f"at least LOGIN_THROTTLE_DELAY ({limits.login_throttle_delay})")
        return limits


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8888
    data_dir: Path = Path("var")
    session_backend: str = "file"
    session_ttl: int = 3600
    session_retries: int = 5
    session_reap_interval: int = 600
    session_dir: Path = Path("var/sessions")
    session_max_memory_sessions: int = 100_000
    session_max_age: int = 43_200  # seconds a login lasts, however busy (ASVS 3.3.2)
    account_cart_ttl: int = 30 * 86_400  # seconds an account's cart is kept after its last change
    cookie_secret: str = ""
    cookie_secure: bool = False
    redis_url: str = "redis://localhost:6379/0"
    session_redis_prefix: str = "shop:session:"
    session_redis_timeout: float = 2.0
    # Sentinel: where the sentinels are (REDIS_URL then unused for the sessions) and the name of the
    # primary they monitor; () : one Redis at REDIS_URL.
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = "shop"
    # A change is acknowledged once WAIT saw it on this many replicas (1 with Sentinel, 0 without).
    session_redis_min_replicas: int = 0
    # The store being left, whose sessions move to this one on their next request: (backend, folder
    # or URL), see sessions.migration; None: no migration.
    session_migrate_from: tuple[str, str] | None = None
    # repr=False: the URL may hold a password, and a Config may be printed or logged.
    database_url: str = field(default="", repr=False)
    database_timeout: int = 5
    limits: Limits = field(default_factory=Limits)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "shop.db"

    @property
    def metrics_dir(self) -> Path:
        """DATA_DIR/metrics/<host>-<port>: this shop's own, emptied at its start. Replicas may share
        DATA_DIR (the scale stack's volume), and each must count, and clean, only its own processes."""
        return self.data_dir / METRICS_FOLDER / f"{socket.gethostname()}-{self.port}"
    workers: int = 1
    access_log: str = "errors"
    # Where /metrics is served (never on the shop's own port); None: no metrics are kept.
    metrics_port: int | None = None
    log_format: str = "text"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the Config from environment variables, or raise ConfigError at the first bad one."""
        env = _Environment(os.environ if environ is None else environ)
        host = env.text("HOST", "127.0.0.1")
        port = env.whole_number("PORT", 8888, lowest=1, highest=65535, unit="a port number")
        backend = env.text("SESSION_BACKEND", "file")
        try:
            store_kind = registry.backend(backend)
        except registry.UnknownBackend:
            expected = f"expected one of {', '.join(registry.names())}"
            raise ConfigError(f"SESSION_BACKEND={_shown(backend)} is not valid: {expected}") from None
        needs_directory = store_kind.needs_directory
        workers = _workers(env, backend, process_local=store_kind.process_local)
        access_log = env.text("ACCESS_LOG", "errors")
        if access_log not in ACCESS_LOG_CHOICES:
            raise ConfigError(f"ACCESS_LOG={_shown(access_log)} is not valid: expected one of {', '.join(ACCESS_LOG_CHOICES)}")
        log_format = env.text("LOG_FORMAT", "text")
        if log_format not in LOG_FORMAT_CHOICES:
            raise ConfigError(f"LOG_FORMAT={_shown(log_format)} is not valid: expected one of {', '.join(LOG_FORMAT_CHOICES)}")
        metrics_port = None
        if env.get("METRICS_PORT") is not None:
            metrics_port = env.whole_number("METRICS_PORT", 0, lowest=1, highest=65535, unit="a port number")
            if metrics_port == port:
                raise ConfigError(f"METRICS_PORT={_shown(str(metrics_port))} is not valid: expected a port other than PORT "
                                  f"({port}), so that /metrics is never served to the shop's visitors")
        ttl = env.whole_number("SESSION_TTL", 3600, lowest=1, unit="a whole number of seconds")
        retries = env.whole_number("SESSION_RETRIES", 5, lowest=0, unit="a whole number of retries")
        reap_interval = env.whole_number(
            "SESSION_REAP_INTERVAL", 600, lowest=0, unit="a whole number of seconds (0 turns sweeping off)"
        )
        max_sessions = env.whole_number(
            "SESSION_MAX_MEMORY_SESSIONS", 100_000, lowest=1, unit="a whole number of sessions"
        )
        max_age = env.whole_number("SESSION_MAX_AGE", 43_200, lowest=1, unit="a whole number of seconds")
        account_cart_ttl = env.whole_number("ACCOUNT_CART_TTL", 30 * 86_400, lowest=1, unit="a whole number of seconds")
        cookie_secure = env.flag("COOKIE_SECURE", False)
        redis_url = _redis_url(env.text("REDIS_URL", "redis://localhost:6379/0"))
        redis_prefix = env.text("SESSION_REDIS_PREFIX", "shop:session:")
        redis_timeout = env.seconds("SESSION_REDIS_TIMEOUT", 2.0, highest=60)
        redis_sentinels = _sentinels(env.get("REDIS_SENTINELS"))
        redis_sentinel_master = _sentinel_master(env.text("REDIS_SENTINEL_MASTER", "shop"))
        min_replicas = env.whole_number("SESSION_REDIS_MIN_REPLICAS", 1 if redis_sentinels else 0, lowest=0,
                                        unit="a whole number of replicas")

        data_dir = _writable_dir("DATA_DIR", env.text("DATA_DIR", "./var"))
        session_dir_raw = env.get("SESSION_DIR")
        if session_dir_raw is None:
            session_dir = data_dir / "sessions"
            variable = "DATA_DIR"
        else:
            session_dir = Path(session_dir_raw).absolute()
            variable = "SESSION_DIR"
        # Only a backend that keeps its sessions in a folder needs one that can be written.
        if needs_directory:
            session_dir = _writable_dir(variable, str(session_dir))

        migrate_from = _migrate_from(env.get("SESSION_MIGRATE_FROM"), backend, session_dir, redis_url, redis_prefix)
        database_url = _database_url(env.get("DATABASE_URL"), data_dir)
        database_timeout = env.whole_number(
            "DATABASE_TIMEOUT", 5, lowest=1, highest=300, unit="a whole number of seconds"
        )

        cookie_secret = env.get("COOKIE_SECRET")
        if cookie_secret is None:
            cookie_secret = _stored_cookie_secret(data_dir)
        elif len(cookie_secret) < MIN_SECRET_LENGTH:
            # Not echoed: even a weak secret is a secret.
            raise ConfigError(f"COOKIE_SECRET (of {len(cookie_secret)} characters) is not valid: "
                              f"expected at least {MIN_SECRET_LENGTH} characters, or leave it unset to have one generated")

        return cls(
            host=host,
            port=port,
            data_dir=data_dir,
            session_backend=backend,
            session_ttl=ttl,
            session_retries=retries,
            session_reap_interval=reap_interval,
            session_dir=session_dir,
            session_max_memory_sessions=max_sessions,
            session_max_age=max_age,
            account_cart_ttl=account_cart_ttl,
            cookie_secret=cookie_secret,
            cookie_secure=cookie_secure,
            redis_url=redis_url,
            session_redis_prefix=redis_prefix,
            session_redis_timeout=redis_timeout,
            redis_sentinels=redis_sentinels,
            redis_sentinel_master=redis_sentinel_master,
            session_redis_min_replicas=min_replicas,
            session_migrate_from=migrate_from,
            database_url=database_url,
            database_timeout=database_timeout,
            limits=Limits.from_env(env),
            workers=workers,
            access_log=access_log,
            metrics_port=metrics_port,
            log_format=log_format,
        )


def _workers(env: _Environment, backend: str, *, process_local: bool) -> int:
    """WORKERS: processes sharing the port; by default one per core, or one for a store whose
    sessions live in one process (the others would not see them)."""
    if process_local:
        workers = env.whole_number("WORKERS", 1, lowest=1, unit="a number of processes")
        if workers != 1:
            raise ConfigError(f"WORKERS={_shown(str(workers))} is not valid with SESSION_BACKEND={backend}: "
                              f"its sessions live in one process, so expected 1 (or a shared store: file, redis)")
        return 1
    return env.whole_number("WORKERS", _cores(), lowest=1, highest=256, unit="a number of processes")


def _migrate_from(raw: str | None, backend: str, session_dir: Path, redis_url: str,
                  redis_prefix: str) -> tuple[str, str] | None:
    """SESSION_MIGRATE_FROM: the store being left, as (backend, location). `file` is the file store
    at SESSION_DIR (or DATA_DIR/sessions), `file:/path` one at that folder, which must exist (a
    mistyped path must not look like a store with nothing left in it); a Redis URL is read with
    SESSION_REDIS_PREFIX. Refused: memory (nothing of it survives the restart that a switch is)
    and the store the shop uses now (whether a Redis answers is checked at start: app.py)."""
    if raw is None or raw == "":
        return None
    allowed = "expected file, file:/path/to/sessions or a Redis URL (redis://host:6379/0), naming the store being left"
    if raw == "memory":
        raise ConfigError("SESSION_MIGRATE_FROM='memory' is not valid: nothing of a memory store survives the "
                          f"restart that a switch is; {allowed}")
    if raw == "file" or raw.startswith("file:"):
        path = raw[len("file:"):]
        if raw != "file" and not path:
            raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(raw)} is not valid: {allowed}")
        folder = session_dir if raw == "file" else Path(path).absolute()
        if backend == "file" and folder.resolve() == session_dir.resolve():
            raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(raw)} is not valid: it is the store the shop uses now "
                              f"({folder}); {allowed}")
        if not folder.is_dir():
            raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(raw)} is not valid: {folder} is not a folder; {allowed}")
        return ("file", str(folder))
    if raw.split("://", 1)[0] in REDIS_SCHEMES and "://" in raw:
        url = _redis_url(raw, "SESSION_MIGRATE_FROM")
        if backend == "redis" and url == redis_url:
            raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(_without_password(raw))} is not valid: it is the store "
                              f"the shop uses now (REDIS_URL, prefix {redis_prefix}); {allowed}")
        return ("redis", url)
    raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(_without_password(raw))} is not valid: {allowed}")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (a container's cpuset)
    except AttributeError:
        return os.cpu_count() or 1


class _Environment:
    """Typed reads of the environment; an empty value counts as unset (as `VAR=` in compose files)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def text(self, name: str, default: str) -> str:
        value = self.get(name)
        return default if value is None else value

    def whole_number(self, name: str, default: int, *, lowest: int, unit: str, highest: int | None = None) -> int:
        value = self.get(name)
        if value is None:
            return default
        if highest is not None:
            allowed = f"expected {unit} from {lowest} to {highest}"
        elif lowest == 0:
            allowed = f"expected {unit}, 0 or more"
        else:
            allowed = f"expected {unit} greater than {lowest - 1}"
        if not _WHOLE_NUMBER.fullmatch(value):
            raise ConfigError(f"{name}={_shown(value)} is not valid: {allowed}")
        number = int(value)
        if number < lowest or (highest is not None and number > highest):
            raise ConfigError(f"{name}={_shown(value)} is not valid: {allowed}")
        return number

    def seconds(self, name: str, default: float, *, highest: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        allowed = f"expected a number of seconds greater than 0 and at most {highest:g}, such as 0.5 or 2"
        if not _DECIMAL.fullmatch(value) or not 0 < float(value) <= highest:
            raise ConfigError(f"{name}={_shown(value)} is not valid: {allowed}")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={_shown(value)} is not valid: expected 0 or 1")


def _networks(name: str, raw: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR networks, e.g. `10.0.0.0/8, 127.0.0.1`."""
    if raw is None:
        return ()
    networks = []
    for part in raw.split(","):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{name}={_shown(raw)} is not valid: expected IP addresses or networks "
                              f"(like 10.0.0.0/8) separated by commas; {_shown(part.strip())} is neither") from None
    return tuple(networks)


def _shown(value: str) -> str:
    # repr() keeps the message on one line whatever the value holds; a long value is cut.
    return repr(value if len(value) <= 80 else value[:80] + "…")


def _redis_url(raw: str, variable: str = "REDIS_URL") -> str:
    """Check the form of a Redis URL (whether Redis answers is for later: it may start after the shop)."""
    allowed = ("expected redis://[:password@]host[:port][/db], rediss://… for TLS, "
               "or unix://[:password@]/path/to/socket[?db=N]")
    try:
        parts = urllib.parse.urlsplit(raw)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError("scheme")
        if parts.scheme == "unix":
            if parts.hostname or not parts.path.startswith("/"):
                raise ValueError("no absolute socket path")
            db = urllib.parse.parse_qs(parts.query).get("db", ["0"])[0]
        else:
            if not parts.hostname or port == 0:
                raise ValueError("no host")
            db = parts.path.lstrip("/") or "0"
        if not _WHOLE_NUMBER.fullmatch(db):
            raise ValueError("db")
    except ValueError:
        # The password is never echoed, not even in an error.
        raise ConfigError(f"{variable}={_shown(_without_password(raw))} is not valid: {allowed}") from None
    return raw


_SENTINEL_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?|\[[0-9A-Fa-f:.]{2,45}\]")
_SENTINEL_MASTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _sentinels(raw: str | None) -> tuple[tuple[str, int], ...]:
    """REDIS_SENTINELS: `host:port,host:port,...` (an IPv6 address in brackets); () when unset."""
    if raw is None:
        return ()
    addresses = []
    for part in raw.split(","):
        host, _, port = part.strip().rpartition(":")
        if not _SENTINEL_HOST.fullmatch(host) or not _WHOLE_NUMBER.fullmatch(port) or not 0 < int(port) < 65536:
            raise ConfigError(f"REDIS_SENTINELS={_shown(raw)} is not valid: expected host:port pairs separated by "
                              f"commas, such as sentinel-1:26379,sentinel-2:26379; {_shown(part.strip())} is not one")
        addresses.append((host.strip("[]"), int(port)))
    return tuple(addresses)


def _sentinel_master(raw: str) -> str:
    if not _SENTINEL_MASTER.fullmatch(raw):
        raise ConfigError(f"REDIS_SENTINEL_MASTER={_shown(raw)} is not valid: expected the name the sentinels "
                          "monitor the primary under: 1 to 64 letters, digits, '.', '_' or '-'")
    return raw


def sentinel_problem(config: Config) -> str | None:
    """Why the sentinels of REDIS_SENTINELS cannot be used, or None: at least one must answer and
    know REDIS_SENTINEL_MASTER at start (app.py), where a mistyped address or name is one line
    rather than a shop answering 503 for ever. Asked only for the redis backend."""
    if not config.redis_sentinels or config.session_backend != "redis":
        return None
    from sessions.sentinel import NoSentinelAnswers, ask_sentinels

    try:
        ask_sentinels(config.redis_sentinels, config.redis_sentinel_master, config.session_redis_timeout)
    except NoSentinelAnswers as error:
        shown = ",".join(f"{host}:{port}" for host, port in config.redis_sentinels)
        reason = " ".join(str(error).split())
        return (f"REDIS_SENTINELS={_shown(shown)} is not valid: expected at least one sentinel that answers and "
                f"monitors REDIS_SENTINEL_MASTER={config.redis_sentinel_master!r} ({reason})")
    return None


def _without_password(url: str) -> str:
    return re.sub(r"(//[^/]*?:)[^/]*@", r"\1***@", url, count=1) if "@" in url else url


def _database_url(raw: str | None, data_dir: Path) -> str:
    """DATABASE_URL, or SQLite at DATA_DIR/shop.db when unset; a SQLite file's folder must be writable."""
    if raw is None:
        return "sqlite://" + urllib.parse.quote(str(data_dir / "shop.db"))
    try:
        engine = check_database_url(raw)
    except ValueError as error:
        # Masked: the URL may hold a password.
        raise ConfigError(f"DATABASE_URL={_shown(mask_password(raw))} is not valid: {error}") from None
    if engine == "sqlite":
        _writable_dir("DATABASE_URL", str(sqlite_path(raw).parent))
    return raw


def _writable_dir(variable: str, raw: str) -> Path:
    """Create the folder if needed and prove it is writable by writing and removing a file."""
    path = Path(raw).absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"{variable}={_shown(raw)} is not valid: expected a folder the shop can create and write ({reason})"
        ) from None
    return path


def _stored_cookie_secret(data_dir: Path) -> str:
    """The secret kept in DATA_DIR, generated on the first start so that restarts keep cookies valid."""
    path = data_dir / COOKIE_SECRET_FILE
    stored = _read_secret(path)
    if stored is not None:
        return stored
    secret = secrets.token_urlsafe(32)
    temporary = data_dir / f".{COOKIE_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            # link() rather than replace(): if two shops start at once, the first secret wins and
            # both use it, instead of one overwriting the secret the other already signs with.
            os.link(temporary, path)
        except FileExistsError:
            stored = _read_secret(path)
            if stored is None:
                raise FileNotFoundError(errno.ENOENT, "the secret file came and went") from None
            return stored
        finally:
            os.unlink(temporary)
        # Without syncing the folder a crash could lose the new name, and with it the secret.
        fsync_directory(data_dir)
    except OSError as error:
        raise ConfigError(
            f"DATA_DIR={_shown(str(data_dir))} is not valid: cannot store the generated cookie secret "
            f"({error.strerror or type(error).__name__})"
        ) from None
    return secret


def _read_secret(path: Path) -> str | None:
    """The secret kept in path; None when there is no such file."""
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"COOKIE_SECRET is unset and {path} cannot be read ({type(error).__name__}): "
            "expected a readable secret file, or set COOKIE_SECRET"
        ) from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"COOKIE_SECRET is unset and {path} holds no usable secret: "
            f"expected at least {MIN_SECRET_LENGTH} characters, or delete the file to have one generated"
        )
    return secret

