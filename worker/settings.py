"""All settings in one pydantic-settings class: environment (NEWSWATCH_*), then `.env`.

Settings are loaded once at the edge (CLI, Celery start-up) and passed in; nothing else
reads the environment. Secrets are SecretStr and never printed (`newswatch config` masks them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSWATCH_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- where things are -----------------------------------------------------------------
    config_dir: Path = Field(
        Path("config"),
        description="Folder holding watchlists.yaml, sources.yaml, subscriptions.yaml",
    )
    data_dir: Path = Field(Path("var"), description="Folder for the SQLite database, outbox, state")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file <data_dir>/newswatch.db"
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker (redis://host:6379/0). Unset: tasks run in-process (embedded)",
    )
    inbox_dirs: list[Path] | None = Field(
        None, description="Inbox folders to scan (overrides sources.yaml inbox entries)"
    )
    templates_dir: Path | None = Field(
        None, description="Folder of Jinja2 templates overriding the built-in ones"
    )

    # --- schedule -------------------------------------------------------------------------
    inbox_scan_seconds: float = Field(60.0, gt=0, description="Beat interval of the inbox scan")
    poll_seconds: float = Field(60.0, gt=0, description="Beat interval of the check for due feeds")
    feed_interval_seconds: float = Field(
        900.0, gt=0, description="Default interval between two polls of one feed"
    )
    digest_check_seconds: float = Field(60.0, gt=0, description="Beat interval of send_due_digests")
    retention_days: int = Field(180, ge=1, description="Articles older than this are purged")
    classify_batch_size: int = Field(200, ge=1, description="Articles per classification task")

    # --- HTTP -----------------------------------------------------------------------------
    http_timeout: float = Field(20.0, gt=0, description="Read timeout of feed and webhook requests")
    http_connect_timeout: float = Field(10.0, gt=0, description="Connect timeout")
    max_feed_bytes: int = Field(10_000_000, gt=0, description="Largest feed body accepted")
    max_redirects: int = Field(5, ge=0)

    # --- delivery -------------------------------------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP server; unset: digests go to the outbox")
    smtp_port: int = Field(587, gt=0)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    mail_from: str = "newswatch <newswatch@localhost>"
    public_url: str = Field("http://localhost:8000", description="Base URL of links in emails")
    secret_key: SecretStr = Field(
        SecretStr("change-me"), description="Signs unsubscribe tokens; set your own"
    )
    send_empty_digests: bool = False
    alert_dedup_hours: float = Field(72.0, ge=0, description="Window of near-duplicate folding")
    webhook_max_attempts: int = Field(
        5, ge=1, description="Attempts of one alert or digest before it is recorded as dead"
    )
    retry_base_seconds: float = Field(
        2.0, gt=0, description="First retry delay of a failed delivery (doubles, with jitter)"
    )
    max_inline_retry_seconds: float = Field(
        60.0, ge=0, description="Embedded default: longest wait between retries within one run"
    )

    log_level: str = "INFO"

    @field_validator("inbox_dirs", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p for p in value.replace(",", ":").split(":") if p]
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'newswatch.db'}"

    @property
    def watchlists_file(self) -> Path:
        return self.config_dir / "watchlists.yaml"

    @property
    def sources_file(self) -> Path:
        return self.config_dir / "sources.yaml"

    @property
    def subscriptions_file(self) -> Path:
        return self.config_dir / "subscriptions.yaml"

    def masked(self) -> dict[str, Any]:
        """Effective settings with secrets masked (and URLs' passwords hidden)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value and "@" in value:
                value = _mask_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, list):
                value = [str(v) for v in value]
            out[name] = value
        out["database_url"] = _mask_url(self.effective_database_url)
        return out


def _mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}" if ":" in creds else url


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
