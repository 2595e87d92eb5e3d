"""The shop's data folder on disk (DATA_DIR): proving a folder can be written, and the cookie secret
kept there, generated on the first start so that restarts keep cookies valid.

config.py reads the settings and turns what goes wrong here into one line naming the variable;
these functions only touch the disk, and raise OSError (or SecretUnusable) with the reason.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from sessions.file_io import fsync_directory

COOKIE_SECRET_FILE = "cookie_secret"
MIN_SECRET_LENGTH = 16


class SecretUnusable(ValueError):
    """The secret file exists but cannot be used; str(error) says why and what to do."""


def writable_folder(raw: str) -> Path:
    """The folder, made if needed, proven writable by writing and removing a file; OSError if not."""
    path = Path(raw).absolute()
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    probe.write_bytes(b"")
    probe.unlink()
    return path


def stored_cookie_secret(data_dir: Path) -> str:
    """The secret kept in data_dir, made on the first start: written whole to a temporary file,
    fsynced, then linked into place, so that a crash never leaves half a secret and two shops
    starting at once both use the first one's. OSError when it cannot be stored, SecretUnusable
    when the file there cannot be used."""
    path = data_dir / COOKIE_SECRET_FILE
    stored = _read_secret(path)
    if stored is not None:
        return stored
    secret = secrets.token_urlsafe(32)
    temporary = data_dir / f".{COOKIE_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
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
    fsync_directory(str(data_dir))
    return secret


def _read_secret(path: Path) -> str | None:
    """The secret kept in path; None when there is no such file."""
    try:
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise SecretUnusable(f"COOKIE_SECRET is unset and {path} cannot be read ({type(error).__name__}): "
                             "expected a readable secret file, or set COOKIE_SECRET") from None
    if len(secret) < MIN_SECRET_LENGTH:
        raise SecretUnusable(f"COOKIE_SECRET is unset and {path} holds no usable secret: expected at least "
                             f"{MIN_SECRET_LENGTH} characters, or delete the file to have one generated")
    return secret
