"""Process settings, read from the environment (prefix ``FABRIC_``).

One ``Settings`` object is built per process (in the app factory or ``main()``)
and passed down; nothing here is a module-level singleton, so tests pass values
explicitly.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SUPPORTED_SCHEMES = ("sqlite", "postgresql")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIC_", extra="ignore")

    database_url: str = "sqlite:///fabric.db"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=8080, ge=1, le=65535)
    # Upper bound of one long-poll: proxies and load balancers cut idle requests
    # after a minute or two, so longer waits would only turn into errors.
    longpoll_max_seconds: float = Field(default=60.0, gt=0, le=300)
    # Safety net under LISTEN/NOTIFY (and the only cross-process signal on
    # SQLite): every replica re-reads the revision this often.
    revision_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    # GC never releases an allocation younger than this, whatever the caller
    # asks: orchestrators list workloads with a lag (Calico's GC freed live ones).
    gc_min_grace_seconds: float = Field(default=300.0, ge=0)
    gc_default_grace_seconds: float = Field(default=900.0, ge=0)
    # The first admin token, for automation and labs; without it the first start
    # on an empty database makes one up and prints it once.
    bootstrap_token: SecretStr | None = None
    # Larger request bodies get 413 before they are read (a GC call with 100,000
    # handles is about 4 MB).
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # FastAPI's own OpenTelemetry spans and metrics, for a server run under an OpenTelemetry
    # SDK. Off by default: the check whether one is configured costs every request time in
    # the event loop (bench/README.md: measured choices), and our metrics are Prometheus's
    # (/metrics).
    opentelemetry: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _SUPPORTED_SCHEMES:
            raise ValueError(
                f"FABRIC_DATABASE_URL must be a sqlite:// or postgresql:// URL, got {scheme!r}"
            )
        return value
