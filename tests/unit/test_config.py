"""Config.from_env: defaults, one clear line for each invalid value, and the generated cookie secret."""

import os
import socket
import stat

import pytest

from config import Config, ConfigError
from sessions import registry


@pytest.fixture
def env(tmp_path):
    return {"DATA_DIR": str(tmp_path / "data")}


def test_defaults(env, tmp_path):
    config = Config.from_env(env)
    assert config.host == "127.0.0.1"
    assert config.port == 8888
    assert config.data_dir == tmp_path / "data"
    assert config.session_backend == "file"
    assert config.session_ttl == 3600
    assert config.session_retries == 5
    assert config.session_reap_interval == 600
    assert config.session_dir == tmp_path / "data" / "sessions"
    assert config.session_max_memory_sessions == 100_000
    assert config.cookie_secure is False
    assert config.redis_url == "redis://localhost:6379/0"
    assert config.database_url == f"sqlite://{tmp_path / 'data' / 'shop.db'}"
    assert config.database_timeout == 5
    assert config.session_dir.is_dir()


def test_data_dir_defaults_to_var_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Config.from_env({}).data_dir == tmp_path / "var"


def test_values_are_read(env, tmp_path):
    config = Config.from_env({
        **env, "HOST": "0.0.0.0", "PORT": "9000", "SESSION_BACKEND": "memory", "SESSION_TTL": "60",
        "SESSION_RETRIES": "0", "SESSION_REAP_INTERVAL": "0", "SESSION_DIR": str(tmp_path / "elsewhere"),
        "COOKIE_SECRET": "a-secret-from-the-operator", "COOKIE_SECURE": "1", "SESSION_MAX_MEMORY_SESSIONS": "10",
        "REDIS_URL": "redis://cache:6379/1",
    })
    assert (config.host, config.port, config.session_backend) == ("0.0.0.0", 9000, "memory")
    assert (config.session_ttl, config.session_retries, config.session_reap_interval) == (60, 0, 0)
    assert config.session_dir == tmp_path / "elsewhere"
    assert config.cookie_secret == "a-secret-from-the-operator"
    assert config.cookie_secure is True
    assert config.session_max_memory_sessions == 10
    assert config.redis_url == "redis://cache:6379/1"
    assert not (config.data_dir / "cookie_secret").exists()


def test_an_empty_value_counts_as_unset(env):
    config = Config.from_env({**env, "PORT": "", "SESSION_BACKEND": " "})
    assert (config.port, config.session_backend) == (8888, "file")


def test_config_is_frozen(env):
    config = Config.from_env(env)
    with pytest.raises(AttributeError):
        config.port = 1


@pytest.mark.parametrize("name, value, allowed", [
    ("SESSION_TTL", "-5", "expected a whole number of seconds greater than 0"),
    ("SESSION_MAX_AGE", "0", "expected a whole number of seconds greater than 0"),
    ("SESSION_MAX_AGE", "12h", "greater than 0"),
    ("ACCOUNT_CART_TTL", "-1", "expected a whole number of seconds greater than 0"),
    ("SESSION_TTL", "0", "greater than 0"),
    ("SESSION_TTL", "1h", "greater than 0"),
    ("SESSION_RETRIES", "-1", "0 or more"),
    ("SESSION_RETRIES", "two", "0 or more"),
    ("SESSION_REAP_INTERVAL", "-10", "0 turns sweeping off"),
    ("SESSION_REAP_INTERVAL", "1.5", "0 or more"),
    ("PORT", "http", "from 1 to 65535"),
    ("PORT", "0", "from 1 to 65535"),
    ("PORT", "65536", "from 1 to 65535"),
    ("SESSION_BACKEND", "postgres", "expected one of memory, file, redis"),
    ("SESSION_REDIS_TIMEOUT", "0", "greater than 0"),
    ("SESSION_REDIS_TIMEOUT", "2s", "a number of seconds"),
    ("SESSION_REDIS_TIMEOUT", "600", "at most 60"),
    ("REDIS_URL", "http://localhost:6379", "expected redis://"),
    ("REDIS_URL", "redis://localhost:port/0", "expected redis://"),
    ("REDIS_URL", "redis://localhost:6379/zero", "expected redis://"),
    ("REDIS_URL", "redis:///0", "expected redis://"),
    ("REDIS_URL", "unix://relative/socket", "unix://"),
    ("COOKIE_SECURE", "maybe", "expected 0 or 1"),
    ("SESSION_MAX_MEMORY_SESSIONS", "0", "greater than 0"),
    ("METRICS_PORT", "0", "from 1 to 65535"),
    ("METRICS_PORT", "metrics", "from 1 to 65535"),
    ("METRICS_PORT", "8888", "a port other than PORT"),
    ("LOG_FORMAT", "xml", "expected one of text, json"),
])
def test_an_invalid_value_is_one_line_naming_variable_value_and_rule(env, name, value, allowed):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, name: value})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{name}={value!r} is not valid: ")
    assert allowed in message


def test_an_unknown_backend_lists_every_registered_one(env):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "SESSION_BACKEND": "postgres"})
    assert str(raised.value).endswith(f"expected one of {', '.join(registry.names())}")


@pytest.mark.parametrize("url", [
    "redis://:s3cret@localhost:6379/0", "rediss://shop:s3cret@redis.example:6380/1",
    "unix://:s3cret@/run/redis/redis.sock?db=2", "redis://localhost", "redis://127.0.0.1:6379/0",
])
def test_redis_url_accepts_tcp_tls_and_unix_sockets_with_a_password(env, url):
    config = Config.from_env({**env, "SESSION_BACKEND": "redis", "REDIS_URL": url})
    assert (config.session_backend, config.redis_url) == ("redis", url)


def test_redis_settings_have_defaults(env):
    config = Config.from_env({**env, "SESSION_BACKEND": "redis"})
    assert (config.session_redis_prefix, config.session_redis_timeout) == ("shop:session:", 2.0)
    assert Config.from_env({**env, "SESSION_REDIS_TIMEOUT": "0.5"}).session_redis_timeout == 0.5


@pytest.mark.parametrize("url", ["redis://:s3cret@", "redis://user:s3cret@host:x/0", "redis://:p@s3cret@host/zero"])
def test_a_malformed_redis_url_is_refused_without_echoing_its_password(env, url):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "SESSION_BACKEND": "redis", "REDIS_URL": url})
    message = str(raised.value)
    assert message.startswith("REDIS_URL=") and "is not valid: expected redis://" in message
    assert "s3cret" not in message and "\n" not in message


def test_a_value_with_a_newline_still_gives_one_line(env):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "SESSION_TTL": "5\nSESSION_TTL=6"})
    assert "\n" not in str(raised.value)


def test_an_unwritable_data_dir_is_a_config_error():
    # A folder that exists and that nobody, root included, can create files in.
    with pytest.raises(ConfigError, match=r"^DATA_DIR=.* is not valid: expected a folder the shop can create and write"):
        Config.from_env({"DATA_DIR": "/proc/self/fdinfo"})


def test_a_data_dir_that_cannot_be_created_is_a_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"DATA_DIR": str(blocker / "data")})
    assert str(raised.value).startswith(f"DATA_DIR={str(blocker / 'data')!r} is not valid: ")


def test_a_session_dir_that_cannot_be_created_is_a_config_error(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^SESSION_DIR=.* is not valid: "):
        Config.from_env({**env, "SESSION_DIR": str(blocker / "sessions")})


def test_the_memory_backend_needs_no_session_dir(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = Config.from_env({**env, "SESSION_BACKEND": "memory", "SESSION_DIR": str(blocker / "sessions")})
    assert config.session_backend == "memory"


def test_the_generated_cookie_secret_is_private_and_reused(env):
    first = Config.from_env(env)
    path = first.data_dir / "cookie_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.cookie_secret) >= 32
    assert path.read_text().strip() == first.cookie_secret
    assert Config.from_env(env).cookie_secret == first.cookie_secret
    # No temporary files are left next to it.
    assert sorted(p.name for p in first.data_dir.iterdir()) == ["cookie_secret", "sessions"]


def test_each_data_dir_gets_its_own_secret(tmp_path):
    first = Config.from_env({"DATA_DIR": str(tmp_path / "one")})
    second = Config.from_env({"DATA_DIR": str(tmp_path / "two")})
    assert first.cookie_secret != second.cookie_secret


def test_an_empty_secret_file_is_a_config_error(env, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cookie_secret").write_text("")
    with pytest.raises(ConfigError, match="cookie_secret holds no usable secret"):
        Config.from_env(env)


def test_a_short_cookie_secret_is_refused_without_showing_it(env):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "COOKIE_SECRET": "hunter2"})
    message = str(raised.value)
    assert message.startswith("COOKIE_SECRET (of 7 characters) is not valid: expected at least 16 characters")
    assert "hunter2" not in message and "\n" not in message


@pytest.mark.parametrize("url, engine", [
    ("postgresql://shop:s3cret@db.example:5432/shop", "postgresql"),
    ("postgres://shop@localhost/shop", "postgresql"),
    ("postgresql:///shop?host=/run/postgresql", "postgresql"),
])
def test_database_url_accepts_postgresql(env, url, engine):
    config = Config.from_env({**env, "DATABASE_URL": url})
    assert config.database_url == url
    assert "s3cret" not in repr(config)


def test_database_url_accepts_a_sqlite_file(env, tmp_path):
    path = tmp_path / "elsewhere" / "shop.sqlite3"
    config = Config.from_env({**env, "DATABASE_URL": f"sqlite://{path}"})
    assert config.database_url == f"sqlite://{path}"
    assert path.parent.is_dir()


@pytest.mark.parametrize("url, allowed", [
    ("mysql://shop:s3cret@db/shop", "expected a URL starting with sqlite://, postgresql://, postgres://"),
    ("not a url", "expected a URL starting with"),
    ("postgresql://shop:s3cret@db:notaport/shop", "the port must be a number from 1 to 65535"),
    ("postgresql://shop:s3cret@db:99999/shop", "the port must be a number from 1 to 65535"),
    ("postgresql://shop:s3cret@/shop", "expected postgresql://user:password@host:port/database"),
    ("postgresql://shop:s3cret@db:5432", "expected a database name"),
    ("postgresql://shop:s3cret@db/shop?nonsense=1", "nonsense"),
    ("sqlite://relative/shop.db", "expected sqlite:///absolute/path/to/file.db"),
    ("sqlite:///", "expected sqlite:///absolute/path/to/file.db"),
])
def test_a_bad_database_url_is_one_line_that_never_shows_the_password(env, url, allowed):
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**env, "DATABASE_URL": url})
    message = str(caught.value)
    assert message.startswith("DATABASE_URL=")
    assert allowed in message
    assert "\n" not in message
    assert "s3cret" not in message


def test_a_sqlite_database_in_an_unwritable_folder_is_a_config_error(env):
    with pytest.raises(ConfigError, match="^DATABASE_URL="):
        Config.from_env({**env, "DATABASE_URL": "sqlite:///proc/no/shop.db"})


def test_limits_have_defaults_and_are_read(env):
    assert Config.from_env(env).limits.max_body_size == 32 * 1024
    limits = Config.from_env({**env, "MAX_BODY_SIZE": "2048", "HEADER_TIMEOUT": "3", "BODY_TIMEOUT": "4",
                              "MAX_CONNECTIONS": "10", "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
                              "LOGIN_THROTTLE_FAILURES": "3", "LOGIN_THROTTLE_DELAY": "2",
                              "LOGIN_THROTTLE_MAX_DELAY": "60", "REGISTER_PER_MINUTE": "1",
                              "SESSIONS_PER_MINUTE": "7"}).limits
    assert (limits.max_body_size, limits.header_timeout, limits.body_timeout, limits.max_connections) == (2048, 3, 4, 10)
    assert [str(network) for network in limits.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert (limits.login_throttle_failures, limits.login_throttle_delay, limits.login_throttle_max_delay) == (3, 2, 60)
    assert (limits.register_per_minute, limits.sessions_per_minute) == (1, 7)


@pytest.mark.parametrize("name, value, expected", [
    ("MAX_BODY_SIZE", "10", "MAX_BODY_SIZE='10' is not valid"),
    ("HEADER_TIMEOUT", "0", "HEADER_TIMEOUT='0' is not valid"),
    ("MAX_CONNECTIONS", "many", "MAX_CONNECTIONS='many' is not valid"),
    ("TRUSTED_PROXIES", "127.0.0.1,nginx", "TRUSTED_PROXIES='127.0.0.1,nginx' is not valid"),
    ("LOGIN_THROTTLE_MAX_DELAY", "0", "LOGIN_THROTTLE_MAX_DELAY='0' is not valid"),
])
def test_bad_limits_stop_the_start_with_one_line(env, name, value, expected):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, name: value})
    assert str(raised.value).startswith(expected) and "\n" not in str(raised.value)


def test_the_longest_login_wait_cannot_be_shorter_than_the_first(env):
    with pytest.raises(ConfigError, match="LOGIN_THROTTLE_MAX_DELAY=5 is not valid"):
        Config.from_env({**env, "LOGIN_THROTTLE_DELAY": "10", "LOGIN_THROTTLE_MAX_DELAY": "5"})
def test_workers_default_to_one_per_core_for_shared_stores_and_one_for_memory(env):
    cores = len(os.sched_getaffinity(0))
    assert Config.from_env({**env, "SESSION_BACKEND": "file"}).workers == cores
    assert Config.from_env({**env, "SESSION_BACKEND": "redis"}).workers == cores
    assert Config.from_env({**env, "SESSION_BACKEND": "memory"}).workers == 1
    assert Config.from_env({**env, "WORKERS": "3"}).workers == 3
    assert Config.from_env({**env, "SESSION_BACKEND": "memory", "WORKERS": "1"}).workers == 1


def test_the_memory_store_refuses_more_than_one_worker(env):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "SESSION_BACKEND": "memory", "WORKERS": "2"})
    message = str(raised.value)
    assert message.startswith("WORKERS='2' is not valid with SESSION_BACKEND=memory") and "\n" not in message


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "257"])
def test_workers_must_be_a_sensible_whole_number(env, value):
    with pytest.raises(ConfigError, match=r"^WORKERS="):
        Config.from_env({**env, "WORKERS": value})


def test_access_log_is_errors_by_default_and_all_on_request(env):
    assert Config.from_env(env).access_log == "errors"
    assert Config.from_env({**env, "ACCESS_LOG": "all"}).access_log == "all"
    with pytest.raises(ConfigError, match=r"^ACCESS_LOG='everything' is not valid: expected one of errors, all$"):
        Config.from_env({**env, "ACCESS_LOG": "everything"})


def test_the_account_settings_have_defaults_and_are_read(env):
    config = Config.from_env(env)
    assert (config.session_max_age, config.account_cart_ttl) == (43_200, 2_592_000)
    config = Config.from_env({**env, "SESSION_MAX_AGE": "600", "ACCOUNT_CART_TTL": "86400"})
    assert (config.session_max_age, config.account_cart_ttl) == (600, 86_400)


def test_metrics_are_off_and_logs_are_text_unless_asked(env, tmp_path):
    config = Config.from_env(env)
    assert config.metrics_port is None
    assert config.log_format == "text"
    asked = Config.from_env({**env, "METRICS_PORT": "9400", "LOG_FORMAT": "json"})
    assert asked.metrics_port == 9400
    assert asked.log_format == "json"
    # Its own folder, even where replicas share DATA_DIR: by host and port.
    assert asked.metrics_dir.parent == tmp_path / "data" / "metrics"
    assert asked.metrics_dir.name == f"{socket.gethostname()}-8888"


def test_sentinels_are_off_by_default_and_then_no_replica_is_waited_for(env):
    config = Config.from_env({**env, "SESSION_BACKEND": "redis"})
    assert (config.redis_sentinels, config.redis_sentinel_master, config.session_redis_min_replicas) == ((), "shop", 0)


def test_with_sentinels_a_change_waits_for_one_replica_unless_told(env):
    sentinels = {**env, "SESSION_BACKEND": "redis", "REDIS_SENTINELS": "sentinel-1:26379, 10.0.0.2:26380,[::1]:5000"}
    config = Config.from_env(sentinels)
    assert config.redis_sentinels == (("sentinel-1", 26379), ("10.0.0.2", 26380), ("::1", 5000))
    assert config.session_redis_min_replicas == 1
    assert Config.from_env({**sentinels, "SESSION_REDIS_MIN_REPLICAS": "0"}).session_redis_min_replicas == 0
    assert Config.from_env({**sentinels, "REDIS_SENTINEL_MASTER": "shop-eu.1"}).redis_sentinel_master == "shop-eu.1"
    assert Config.from_env({**env, "SESSION_REDIS_MIN_REPLICAS": "2"}).session_redis_min_replicas == 2


def test_through_sentinel_a_redis_at_redis_url_may_be_the_store_being_left(env):
    """With REDIS_SENTINELS the sessions are wherever the primary is: REDIS_URL (here its default,
    localhost) names no store in use, so leaving a Redis there is no switch to the same store."""
    switch = {**env, "SESSION_BACKEND": "redis", "SESSION_MIGRATE_FROM": "redis://localhost:6379/0"}
    with pytest.raises(ConfigError, match="it is the store the shop uses now"):
        Config.from_env(switch)
    through_sentinel = Config.from_env({**switch, "REDIS_SENTINELS": "sentinel-1:26379"})
    assert through_sentinel.session_migrate_from == ("redis", "redis://localhost:6379/0")


@pytest.mark.parametrize("name, value, allowed", [
    ("REDIS_SENTINELS", "sentinel-1", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINELS", "sentinel-1:26379,", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINELS", "sentinel-1:0", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINELS", "sentinel-1:99999", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINELS", "redis://sentinel-1:26379", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINELS", "sentinel 1:26379", "expected host:port pairs separated by commas"),
    ("REDIS_SENTINEL_MASTER", "my shop", "1 to 64 letters, digits"),
    ("SESSION_REDIS_MIN_REPLICAS", "-1", "a whole number of replicas, 0 or more"),
    ("SESSION_REDIS_MIN_REPLICAS", "one", "a whole number of replicas, 0 or more"),
])
def test_a_malformed_sentinel_setting_is_one_line_naming_it(env, name, value, allowed):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**env, "SESSION_BACKEND": "redis", "REDIS_SENTINELS": "s:26379", name: value})
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{name}={value!r} is not valid: ") and allowed in message
