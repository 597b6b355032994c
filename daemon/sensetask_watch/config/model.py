"""The loaded configuration as frozen dataclasses.

``load.load_config`` builds these from a validated file; the rest of the
daemon reads only these. Where a setting has a default, it comes from the
schema, so the schema stays the one place defaults are written down (and
tests elsewhere can write ``WatchSettings()`` or ``BatchSettings(max_files=2)``).

A field whose metadata says ``secret`` is redacted by ``effective_config``.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .checks import parse_listen
from .schema import default_for


def _default(*path):
    value = default_for(*path)
    if isinstance(value, list):
        value = tuple(value)
    return field(default=value)


@dataclass(frozen=True)
class ApiSettings:
    url: str
    key: str = field(repr=False, metadata={"secret": True})
    key_source: str  # "api.key_file /path", "api.key" or "environment SENSETASK_API_KEY"
    timeout_seconds: float = _default("api", "timeout_seconds")
    connect_timeout_seconds: float = _default("api", "connect_timeout_seconds")
    parallel_uploads: int = _default("api", "parallel_uploads")
    on_ambiguous_submit: str = _default("api", "on_ambiguous_submit")  # "resubmit" or "fail"


@dataclass(frozen=True)
class FolderSettings:
    name: str
    inbox: Path
    done: Path
    failed: Path
    processing: Path
    parent_node: str


@dataclass(frozen=True)
class WatchSettings:
    mode: str = _default("watch", "mode")  # "auto", "inotify" or "polling"
    poll_interval_seconds: float = _default("watch", "poll_interval_seconds")
    rescan_interval_seconds: float = _default("watch", "rescan_interval_seconds")
    settle_seconds: float = _default("watch", "settle_seconds")
    ignore: tuple[str, ...] = _default("watch", "ignore")


@dataclass(frozen=True)
class BatchSettings:
    quiet_seconds: float = _default("batch", "quiet_seconds")
    max_files: int = _default("batch", "max_files")
    max_wait_seconds: float = _default("batch", "max_wait_seconds")


@dataclass(frozen=True)
class ConfirmSettings:
    poll_interval_seconds: float = _default("confirm", "poll_interval_seconds")
    give_up_after_seconds: float = _default("confirm", "give_up_after_seconds")
    processed_statuses: tuple[str, ...] = _default("confirm", "processed_statuses")
    failed_statuses: tuple[str, ...] = _default("confirm", "failed_statuses")
    # The polling interval while the webhook receiver is on (polling is then a slow safety net).
    safety_poll_interval_seconds: float = _default("confirm", "safety_poll_interval_seconds")


@dataclass(frozen=True)
class WebhookSettings:
    """The webhook receiver; ``enabled`` only when ``listen`` is set.

    ``host`` and ``port`` are ``listen`` taken apart (an IPv6 host without its
    brackets); given only ``listen``, they are filled in from it.
    """

    listen: str | None = None  # "HOST:PORT" as written, e.g. "127.0.0.1:8787" or "[::1]:8787"
    host: str | None = None
    port: int | None = None
    path: str = _default("webhook", "path")
    health_path: str = _default("webhook", "health_path")
    secret: str | None = field(default=None, repr=False, metadata={"secret": True})
    # "webhook.secret_file /path", "webhook.secret" or "environment SENSETASK_WEBHOOK_SECRET"
    secret_source: str | None = None
    max_body_bytes: int = _default("webhook", "max_body_bytes")

    def __post_init__(self):
        if self.listen is not None and (self.host is None or self.port is None):
            host, port, problem = parse_listen(self.listen)
            if problem:
                raise ValueError(f"webhook listen address: {problem}")
            object.__setattr__(self, "host", host)
            object.__setattr__(self, "port", port)

    @property
    def enabled(self):
        return self.listen is not None


@dataclass(frozen=True)
class Config:
    api: ApiSettings
    folders: tuple[FolderSettings, ...]
    watch: WatchSettings
    batch: BatchSettings
    confirm: ConfirmSettings
    state_dir: Path
    log_level: str  # "debug", "info", "warning" or "error"
    source: Path  # the file this was loaded from
    stop_timeout_seconds: float = _default("stop_timeout_seconds")
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
