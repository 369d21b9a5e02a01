"""python -m services.sms_sink [--host H] [--port P] [--state FILE] — the SMS gateway stand-in."""

from __future__ import annotations

import argparse
import os

import uvicorn

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m services.sms_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--state", default=os.environ.get("SMS_SINK_STATE", ".data/sms-sink.db"))
    args = parser.parse_args()
    os.environ["SMS_SINK_STATE"] = args.state
    uvicorn.run("services.sms_sink.app:create_app", factory=True, host=args.host, port=args.port, log_config=None)
