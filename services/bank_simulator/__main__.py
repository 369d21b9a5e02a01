"""python -m services.bank_simulator [--host H] [--port P] [--state FILE] — the payment provider stand-in."""

from __future__ import annotations

import argparse
import os

import uvicorn

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m services.bank_simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--state", default=os.environ.get("SIMULATOR_STATE", ".data/bank-simulator.db"))
    args = parser.parse_args()
    os.environ["SIMULATOR_STATE"] = args.state
    uvicorn.run("services.bank_simulator.app:create_app", factory=True, host=args.host, port=args.port, log_config=None)
