"""uvicorn's access log without secrets: a query's `token` value (the "this wasn't me" link's)
is written as `token=[redacted]`, so whoever reads the logs cannot use the link."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import uvicorn.config

SECRET_QUERY = re.compile(r"(?<=[?&]token=)[^&\s]+")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_QUERY.sub("[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up, with RedactTokens on the access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": f"{__name__}.RedactTokens"}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config
