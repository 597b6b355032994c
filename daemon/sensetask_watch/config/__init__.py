"""Configuration: load config.yaml -> normalize -> validate -> check -> frozen dataclasses.

    from sensetask_watch.config import load_config, ConfigError
    try:
        config = load_config(path)
    except ConfigError as error:
        print(error)  # every problem, one "At 'key.path': ..." line each

The layout, defaults and descriptions of every setting are in ``schema.SCHEMA``.
"""

from .load import DEFAULT_CONFIG_PATH, ConfigError, load_config
from .model import (
    ApiSettings,
    BatchSettings,
    Config,
    ConfirmSettings,
    FolderSettings,
    WatchSettings,
    WebhookSettings,
)
from .redact import REDACTED, effective_config
from .schema import SCHEMA

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "REDACTED",
    "SCHEMA",
    "ApiSettings",
    "BatchSettings",
    "Config",
    "ConfigError",
    "ConfirmSettings",
    "FolderSettings",
    "WatchSettings",
    "WebhookSettings",
    "effective_config",
    "load_config",
]
