"""The effective configuration as plain data, for printing, with secrets redacted."""

import dataclasses
from pathlib import Path

REDACTED = "***redacted***"


def effective_config(config):
    """Every setting of ``config``, defaults included, as JSON/YAML-serialisable data.

    Paths become strings and tuples lists. A field marked ``secret`` in its
    metadata (the API key) shows as "***redacted***", or is left out when empty.
    ``source`` is not a setting and is left out; ``api.key_source`` says where
    the key came from.
    """
    data = _plain(config)
    del data["source"]
    return data


def _plain(value):
    if dataclasses.is_dataclass(value):
        data = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.metadata.get("secret"):
                if item:
                    data[field.name] = REDACTED
            else:
                data[field.name] = _plain(item)
        return data
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
