"""The access log never holds a usable "this wasn't me" token."""

from __future__ import annotations

import io
import logging
import logging.config

from keyfob.web.accesslog import log_config


def test_a_token_in_the_query_is_redacted_in_the_access_log() -> None:
    config = log_config()
    stream = io.StringIO()
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/account/not-me?token=eyJ1c2VyIjo1fQ.Zz9.sig&x=1",
            "1.1",
            200,
        )
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    line = stream.getvalue()
    assert "/account/not-me?token=[redacted]&x=1" in line
    assert "eyJ1c2VyIjo1fQ" not in line
