"""The shop's settings: read once from the environment into a frozen Config, validated in one place.

Each setting is declared once, as a field of Config (or Limits): its default, its variable and its
rule, `setting(VARIABLE, default, reader)`. from_env reads the fields in their order, so a rule may
use the settings above it (SESSION_DIR's default is under DATA_DIR). Nothing else in the shop reads
os.environ; everything else gets a Config passed in.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from sessions import registry
from sessions.addresses import same_redis

import data_folder
from shop.db import check_database_url, mask_password, sqlite_path

REDIS_SCHEMES = ("redis", "rediss", "unix")
# errors: requests answered 4xx/5xx or slower than SLOW_REQUEST_SECONDS; all: every request.
ACCESS_LOG_CHOICES = ("errors", "all")
# text: `time LEVEL logger: message request_id=…`; json: one JSON object a line (handlers/logs.py).
LOG_FORMAT_CHOICES = ("text", "json")
# Under DATA_DIR: where each process writes its counts for /metrics (see Config.metrics_dir).
METRICS_FOLDER = "metrics"
MIN_SECRET_LENGTH = data_folder.MIN_SECRET_LENGTH

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


class ConfigError(ValueError):
    """A setting that stops the start; str(error) is one line naming the variable, value and rule."""


# A setting's rule: reader(env, variable, default, settings read so far) -> its value.
Reader = Callable[["_Environment", str, Any, dict[str, Any]], Any]


def setting(variable: str, default: Any, reader: Reader, **options: Any) -> Any:
    """A field read from `variable` by `reader`, `default` when unset (dataclasses.field options too)."""
    return field(default=default, metadata={"variable": variable, "reader": reader}, **options)


def whole(unit: str, *, lowest: int, highest: int | None = None) -> Reader:
    return lambda env, name, default, _: env.whole_number(name, default, lowest=lowest, unit=unit, highest=highest)


def text(env: _Environment, name: str, default: str, _: dict) -> str:
    return env.text(name, default)


def flag(env: _Environment, name: str, default: bool, _: dict) -> bool:
    return env.flag(name, default)


def seconds(highest: float) -> Reader:
    return lambda env, name, default, _: env.seconds(name, default, highest=highest)


def one_of(choices: tuple[str, ...]) -> Reader:
    def read(env: _Environment, name: str, default: str, _: dict) -> str:
        value = env.text(name, default)
        if value not in choices:
            raise ConfigError(f"{name}={_shown(value)} is not valid: expected one of {', '.join(choices)}")
        return value
    return read


def _read_settings(cls: type, env: _Environment) -> dict[str, Any]:
    """Every field of cls that is a setting, read in the order they are declared."""
    values: dict[str, Any] = {}
    for declared in fields(cls):
        if "reader" in declared.metadata:
            default = declared.default if declared.default_factory is MISSING else declared.default_factory()
            values[declared.name] = declared.metadata["reader"](env, declared.metadata["variable"], default, values)
    return values


def _networks_setting(env: _Environment, name: str, default: tuple, _: dict) -> tuple:
    return _networks(name, env.get(name)) or default


@dataclass(frozen=True)
class Limits:
    """What one client may do: request sizes, connection timeouts, and how often it may try."""

    max_body_size: int = setting("MAX_BODY_SIZE", 32 * 1024, whole("a whole number of bytes", lowest=1024))
    header_timeout: int = setting("HEADER_TIMEOUT", 20, whole("a whole number of seconds", lowest=1))
    body_timeout: int = setting("BODY_TIMEOUT", 30, whole("a whole number of seconds", lowest=1))
    max_connections: int = setting("MAX_CONNECTIONS", 1000, whole("a whole number of connections", lowest=1))
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        "TRUSTED_PROXIES", (), _networks_setting)
    login_throttle_failures: int = setting("LOGIN_THROTTLE_FAILURES", 5,
                                           whole("a whole number of failed logins", lowest=1))
    login_throttle_delay: int = setting("LOGIN_THROTTLE_DELAY", 1, whole("a whole number of seconds", lowest=1))
    login_throttle_max_delay: int = setting("LOGIN_THROTTLE_MAX_DELAY", 900,
                                            whole("a whole number of seconds", lowest=1))
    register_per_minute: int = setting("REGISTER_PER_MINUTE", 5, whole("a whole number of registrations", lowest=1))
    sessions_per_minute: int = setting("SESSIONS_PER_MINUTE", 60, whole("a whole number of new sessions", lowest=1))

    @classmethod
    def from_env(cls, env: _Environment) -> Limits:
        limits = cls(**_read_settings(cls, env))
        if limits.login_throttle_max_delay < limits.login_throttle_delay:
            raise ConfigError(f"LOGIN_THROTTLE_MAX_DELAY={limits.login_throttle_max_delay} is not valid: expected "
                              f"at least LOGIN_THROTTLE_DELAY ({limits.login_throttle_delay})")
        return limits


def _backend(env: _Environment, name: str, default: str, _: dict) -> str:
    backend = env.text(name, default)
    try:
        registry.backend(backend)
    except registry.UnknownBackend:
        expected = f"expected one of {', '.join(registry.names())}"
        raise ConfigError(f"{name}={_shown(backend)} is not valid: {expected}") from None
    return backend


def _workers(env: _Environment, name: str, default: int, values: dict) -> int:
    """WORKERS: processes sharing the port; by default one per core, or one for a store whose
    sessions live in one process (the others would not see them)."""
    backend = values["session_backend"]
    if registry.backend(backend).process_local:
        workers = env.whole_number(name, 1, lowest=1, unit="a number of processes")
        if workers != 1:
            raise ConfigError(f"{name}={_shown(str(workers))} is not valid with SESSION_BACKEND={backend}: "
                              f"its sessions live in one process, so expected 1 (or a shared store: file, redis)")
        return 1
    return env.whole_number(name, _cores(), lowest=1, highest=256, unit="a number of processes")


def _metrics_port(env: _Environment, name: str, default: None, values: dict) -> int | None:
    if env.get(name) is None:
        return default
    port = env.whole_number(name, 0, lowest=1, highest=65535, unit="a port number")
    if port == values["port"]:
        raise ConfigError(f"{name}={_shown(str(port))} is not valid: expected a port other than PORT "
                          f"({port}), so that /metrics is never served to the shop's visitors")
    return port


def _redis_url_setting(env: _Environment, name: str, default: str, _: dict) -> str:
    return _redis_url(env.text(name, default), name)


def _sentinels_setting(env: _Environment, name: str, default: tuple, _: dict) -> tuple:
    return _sentinels(env.get(name)) or default


def _sentinel_master_setting(env: _Environment, name: str, default: str, _: dict) -> str:
    return _sentinel_master(env.text(name, default))


def _min_replicas(env: _Environment, name: str, default: int, values: dict) -> int:
    """1 with Sentinel (a failover must not lose what was acknowledged), 0 without."""
    return env.whole_number(name, 1 if values["redis_sentinels"] else default, lowest=0,
                            unit="a whole number of replicas")


def _data_dir(env: _Environment, name: str, default: Path, _: dict) -> Path:
    return _writable_dir(name, env.text(name, str(default)))


def _session_dir(env: _Environment, name: str, default: Path, values: dict) -> Path:
    """SESSION_DIR, or DATA_DIR/sessions; it must be writable only for a store that keeps its
    sessions in a folder."""
    raw = env.get(name)
    folder, variable = (values["data_dir"] / "sessions", "DATA_DIR") if raw is None else (Path(raw).absolute(), name)
    if registry.backend(values["session_backend"]).needs_directory:
        return _writable_dir(variable, str(folder))
    return folder


def _migrate_from_setting(env: _Environment, name: str, default: None, values: dict) -> tuple[str, str] | None:
    # Through Sentinel the store in use is wherever the primary is, never REDIS_URL: no URL to compare.
    in_use = None if values["redis_sentinels"] else values["redis_url"]
    return _migrate_from(env.get(name), values["session_backend"], values["session_dir"], in_use,
                         values["session_redis_prefix"])


def _database_url_setting(env: _Environment, name: str, default: str, values: dict) -> str:
    return _database_url(env.get(name), values["data_dir"])


def _cookie_secret(env: _Environment, name: str, default: str, values: dict) -> str:
    """COOKIE_SECRET, or the one kept in DATA_DIR (generated on the first start)."""
    secret = env.get(name)
    if secret is None:
        data_dir = values["data_dir"]
        try:
            return data_folder.stored_cookie_secret(data_dir)
        except data_folder.SecretUnusable as error:
            raise ConfigError(str(error)) from None
        except OSError as error:
            raise ConfigError(f"DATA_DIR={_shown(str(data_dir))} is not valid: cannot store the generated cookie "
                              f"secret ({error.strerror or type(error).__name__})") from None
    if len(secret) < MIN_SECRET_LENGTH:
        # Not echoed: even a weak secret is a secret.
        raise ConfigError(f"{name} (of {len(secret)} characters) is not valid: expected at least "
                          f"{MIN_SECRET_LENGTH} characters, or leave it unset to have one generated")
    return secret


def _limits(env: _Environment, name: str, default: Limits, _: dict) -> Limits:
    return Limits.from_env(env)


@dataclass(frozen=True)
class Config:
    host: str = setting("HOST", "127.0.0.1", text)
    port: int = setting("PORT", 8888, whole("a port number", lowest=1, highest=65535))
    session_backend: str = setting("SESSION_BACKEND", "file", _backend)
    workers: int = setting("WORKERS", 1, _workers)
    access_log: str = setting("ACCESS_LOG", "errors", one_of(ACCESS_LOG_CHOICES))
    log_format: str = setting("LOG_FORMAT", "text", one_of(LOG_FORMAT_CHOICES))
    # Where /metrics is served (never on the shop's own port); None: no metrics are kept.
    metrics_port: int | None = setting("METRICS_PORT", None, _metrics_port)
    session_ttl: int = setting("SESSION_TTL", 3600, whole("a whole number of seconds", lowest=1))
    session_retries: int = setting("SESSION_RETRIES", 5, whole("a whole number of retries", lowest=0))
    session_reap_interval: int = setting("SESSION_REAP_INTERVAL", 600,
                                         whole("a whole number of seconds (0 turns sweeping off)", lowest=0))
    session_max_memory_sessions: int = setting("SESSION_MAX_MEMORY_SESSIONS", 100_000,
                                               whole("a whole number of sessions", lowest=1))
    # Seconds a login lasts, however busy (ASVS 3.3.2).
    session_max_age: int = setting("SESSION_MAX_AGE", 43_200, whole("a whole number of seconds", lowest=1))
    # Seconds an account's cart is kept after its last change.
    account_cart_ttl: int = setting("ACCOUNT_CART_TTL", 30 * 86_400, whole("a whole number of seconds", lowest=1))
    cookie_secure: bool = setting("COOKIE_SECURE", False, flag)
    # repr=False, as DATABASE_URL's below: the URL may hold a password.
    redis_url: str = setting("REDIS_URL", "redis://localhost:6379/0", _redis_url_setting, repr=False)
    session_redis_prefix: str = setting("SESSION_REDIS_PREFIX", "shop:session:", text)
    session_redis_timeout: float = setting("SESSION_REDIS_TIMEOUT", 2.0, seconds(highest=60))
    # Sentinel: where the sentinels are (REDIS_URL then unused for the sessions) and the name of the
    # primary they monitor; () : one Redis at REDIS_URL.
    redis_sentinels: tuple[tuple[str, int], ...] = setting("REDIS_SENTINELS", (), _sentinels_setting)
    redis_sentinel_master: str = setting("REDIS_SENTINEL_MASTER", "shop", _sentinel_master_setting)
    # A change is acknowledged once WAIT saw it on this many replicas (1 with Sentinel, 0 without).
    session_redis_min_replicas: int = setting("SESSION_REDIS_MIN_REPLICAS", 0, _min_replicas)
    data_dir: Path = setting("DATA_DIR", Path("var"), _data_dir)
    session_dir: Path = setting("SESSION_DIR", Path("var/sessions"), _session_dir)
    # The store being left, whose sessions move to this one on their next request: (backend, folder
    # or URL), see sessions.migration; None: no migration. Not in repr: a Redis URL may hold a password.
    session_migrate_from: tuple[str, str] | None = setting("SESSION_MIGRATE_FROM", None, _migrate_from_setting,
                                                           repr=False)
    # repr=False: the URL may hold a password, and a Config may be printed or logged.
    database_url: str = setting("DATABASE_URL", "", _database_url_setting, repr=False)
    database_timeout: int = setting("DATABASE_TIMEOUT", 5, whole("a whole number of seconds", lowest=1, highest=300))
    cookie_secret: str = setting("COOKIE_SECRET", "", _cookie_secret, repr=False)
    limits: Limits = field(default_factory=Limits, metadata={"variable": "", "reader": _limits})

    @property
    def metrics_dir(self) -> Path:
        """DATA_DIR/metrics/<host>-<port>: this shop's own, emptied at its start. Replicas may share
        DATA_DIR (the scale stack's volume), and each must count, and clean, only its own processes."""
        return self.data_dir / METRICS_FOLDER / f"{socket.gethostname()}-{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        """Build the Config from environment variables, or raise ConfigError at the first bad one."""
        return cls(**_read_settings(cls, _Environment(os.environ if environ is None else environ)))


def _migrate_from(raw: str | None, backend: str, session_dir: Path, redis_url: str | None,
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
        if backend == "redis" and redis_url is not None and same_redis(url, redis_url):
            raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(mask_password(raw))} is not valid: it is the store "
                              f"the shop uses now (REDIS_URL, prefix {redis_prefix}); {allowed}")
        return ("redis", url)
    raise ConfigError(f"SESSION_MIGRATE_FROM={_shown(mask_password(raw))} is not valid: {allowed}")


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
        raise ConfigError(f"{variable}={_shown(mask_password(raw))} is not valid: {allowed}") from None
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
    try:
        return data_folder.writable_folder(raw)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"{variable}={_shown(raw)} is not valid: expected a folder the shop can create and write ({reason})"
        ) from None


