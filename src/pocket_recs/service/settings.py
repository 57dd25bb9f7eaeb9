"""Settings of the training and serving service, from ``POCKET_RECS_*`` variables or a file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pocket_recs.errors import ConfigError


class ServiceSettings(BaseSettings):
    """Where the service keeps its state and how it reaches its database and broker.

    The defaults need nothing installed: a SQLite file and a worker thread in the web process,
    all under ``home``. Production sets ``database_url`` (PostgreSQL) and ``broker_url``
    (RabbitMQ ``amqp://`` or Redis ``redis://``) and runs ``pocket-recs worker`` processes.
    """

    model_config = SettingsConfigDict(env_prefix="POCKET_RECS_", extra="forbid", frozen=True)

    home: Path = Field(Path("pocket-recs-home"), description="Folder of the service's own state.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the job database (default: SQLite file in home)."
    )
    broker_url: str = Field(
        "memory://",
        description="Task broker: memory:// (worker thread in the web process), amqp://... "
        "(RabbitMQ) or redis://...",
    )
    data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders training data may come from (default: home/data); "
        "in the environment, separated by ':'.",
    )
    artifacts_dir: Path | None = Field(
        None, description="Artifact store of the model versions (default: home/artifacts)."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs session cookies and API tokens (default: a random key kept in "
        "home/secret_key). Set the same value on every web process.",
    )
    token_minutes: int = Field(60 * 12, ge=1, description="Lifetime of an API access token.")
    demo: bool = Field(
        False, description="Demo mode: a demo@example.com / demo account and sample data."
    )
    worker_threads: int = Field(1, ge=1, description="Jobs one worker process runs at once.")
    in_process_worker: bool | None = Field(
        None, description="Run a worker inside the web process (default: with memory:// only)."
    )
    scheduler: bool = Field(True, description="Start due scheduled retraining from this process.")
    scheduler_interval_s: float = Field(30.0, gt=0, description="Seconds between schedule checks.")
    metrics_k: int = Field(10, ge=1, description="Cut-off K of the metrics stored with each job.")
    max_attempts: int = Field(
        2, ge=1, description="Runs of a job whose worker died before it is marked failed."
    )
    redis_url: str | None = Field(
        None, description="Keep online user state in Redis, shared by all web processes."
    )
    watch_interval_s: float = Field(
        1.0, gt=0, description="Seconds between looks for a newly promoted model version."
    )

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(":") if part]
        return value

    @field_validator("broker_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if not value.startswith(("memory://", "amqp://", "amqps://", "redis://", "rediss://")):
            raise ValueError(
                f"broker_url must start with memory://, amqp:// or redis://, got {value!r}"
            )
        return value

    @property
    def database(self) -> str:
        """The database URL in use."""
        return self.database_url or f"sqlite:///{(self.home / 'service.db').resolve()}"

    @property
    def artifacts(self) -> Path:
        """The artifact store folder in use."""
        return self.artifacts_dir or self.home / "artifacts"

    @property
    def roots(self) -> list[Path]:
        """The data roots in use, resolved (symlinks followed)."""
        return [root.resolve() for root in (self.data_roots or [self.home / "data"])]

    @property
    def embedded_worker(self) -> bool:
        """Whether this process runs jobs itself."""
        if self.in_process_worker is not None:
            return self.in_process_worker
        return self.broker_url.startswith("memory://")

    def secret(self) -> str:
        """The signing key: the configured one, or one kept in ``home/secret_key``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.home / "secret_key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < 32:
            raise ConfigError(f"{path}: the secret key is shorter than 32 characters; delete it")
        return key


def load_settings(path: str | Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from the environment, then a YAML/TOML file ``path``, then ``overrides``."""
    values: dict[str, Any] = {}
    if path is not None:
        from pocket_recs.config import read_mapping

        values.update(read_mapping(Path(path)))
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return ServiceSettings(**values)
    except ValueError as err:
        raise ConfigError(f"service settings: {err}") from err
