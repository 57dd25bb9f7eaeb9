"""Passwords, API tokens, CSRF tokens and the confinement of data paths to the data roots."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pocket_recs.errors import ConfigError, DataValidationError
from pocket_recs.service.db import User, utcnow

_HASHER = PasswordHasher()
TOKEN_ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session, email: str, password: str, *, is_admin: bool = False, min_length: int = MIN_PASSWORD_LENGTH
) -> User:
    """Add a user with a hashed password.

    Raises:
        ConfigError: the email is taken or malformed, or the password is too short.
    """
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise ConfigError(f"user email must look like name@example.com, got {email!r}")
    if len(password) < min_length:
        raise ConfigError(f"password must have at least {min_length} characters, got {len(password)}")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise ConfigError(f"a user {email!r} already exists")
    user = User(email=email, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.commit()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, or None."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(_DUMMY_HASH, password)  # same time whether or not the user exists
        return None
    return user if verify_password(user.password_hash, password) else None


_DUMMY_HASH = _HASHER.hash(secrets.token_hex(8))


def create_token(user_id: int, secret: str, *, minutes: int) -> str:
    """A signed bearer token for ``user_id`` that expires after ``minutes``."""
    now = utcnow()
    payload = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM)


def token_user_id(token: str, secret: str) -> int | None:
    """The user id a valid, unexpired token was issued for; None for any other token."""
    try:
        payload = jwt.decode(token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]})
        return int(payload["sub"])
    except (jwt.InvalidTokenError, ValueError):
        return None


def new_csrf_token() -> str:
    """A fresh random CSRF token for a session."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Whether a submitted CSRF token equals the session's (constant time)."""
    return bool(expected and given and hmac.compare_digest(expected, given))


def resolve_data_path(data_path: str, roots: list[Path]) -> Path:
    """The folder ``data_path`` names, relative to a data root, after following every symlink.

    A relative path is looked up in each root in turn; an absolute one must lie inside a root.

    Raises:
        DataValidationError: the folder escapes every root (``..``, symlinks, absolute paths
            elsewhere) or does not exist.
    """
    if not data_path or "\x00" in data_path:
        raise DataValidationError("data_path: give a folder under a data root, e.g. 'shop'")
    candidates = [Path(data_path)] if Path(data_path).is_absolute() else [root / data_path for root in roots]
    for candidate in candidates:
        resolved = candidate.resolve()
        inside = any(resolved == root or resolved.is_relative_to(root) for root in roots)
        if inside and resolved.is_dir():
            return resolved
    raise DataValidationError(
        f"data_path: {data_path!r} is not a folder inside the data roots; give a folder name "
        "relative to a data root (see GET /api/datasets)"
    )


def list_datasets(roots: list[Path]) -> list[str]:
    """Folders directly under the data roots that hold an interactions file."""
    found = []
    for root in roots:
        if root.is_dir():
            for child in sorted(root.iterdir()):
                if child.is_dir() and any((child / name).exists() for name in INTERACTION_FILES):
                    found.append(child.name)
    return found


INTERACTION_FILES = ("interactions.parquet", "interactions.csv")
CATALOG_FILES = ("catalog.csv", "catalog.parquet")


def dataset_files(folder: Path) -> tuple[Path, Path]:
    """The interactions and catalog files of a dataset folder.

    Raises:
        DataValidationError: either file is missing.
    """
    interactions = next((folder / n for n in INTERACTION_FILES if (folder / n).is_file()), None)
    catalog = next((folder / n for n in CATALOG_FILES if (folder / n).is_file()), None)
    if interactions is None or catalog is None:
        missing = " or ".join(INTERACTION_FILES if interactions is None else CATALOG_FILES)
        raise DataValidationError(f"{folder}: no {missing}; a dataset folder holds the files `fit` takes")
    for path in (interactions, catalog):
        if not path.resolve().is_relative_to(folder.resolve()):
            raise DataValidationError(f"{path}: is a symlink out of the dataset folder; copy the file in")
    return interactions, catalog
