"""A newcomer's first minute: on a terminal the embedded run prints readable one-line logs (no JSON)
and ends with the URLs and the token; JSON stays when output is not a terminal."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from shared.tracing import configure_logging
from tests.conftest import consecutive_free_ports

ROOT = Path(__file__).resolve().parents[2]


def test_log_format_follows_the_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, readable in ((Terminal(), True), (io.StringIO(), False)):
        configure_logging("INFO", "auto", stream=stream)
        logging.getLogger("demo").info("household %s registered", "h-1")
        line = stream.getvalue().strip()
        if readable:
            assert line.endswith("INFO    demo: household h-1 registered") and "\n" not in line
        else:
            assert json.loads(line)["message"] == "household h-1 registered"
    configure_logging("INFO", "json")


def test_embedded_console_is_readable_and_ends_with_urls_and_token(tmp_path):
    base = consecutive_free_ports(6)  # four services, the bank simulator and the SMS sink
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "LOG_FORMAT")}
    env |= {
        "DATA_DIR": str(tmp_path),
        "EMBEDDED_BASE_PORT": str(base),
        "EMBEDDED_BANK_PORT": str(base + 4),
        "EMBEDDED_SMS_PORT": str(base + 5),
    }
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "services"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 120
    try:
        while b"--role county_operator" not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                try:
                    output += os.read(primary, 65536)
                except OSError:
                    break
        time.sleep(1)  # anything printed right after the summary would show here
        while select.select([primary], [], [], 0.2)[0]:
            try:
                output += os.read(primary, 65536)
            except OSError:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.close(primary)
    lines = [line for line in output.decode(errors="replace").replace("\r", "").split("\n") if line.strip()]
    assert any("Development token" in line for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines), lines  # no JSON on a terminal
    summary = next(i for i, line in enumerate(lines) if "embedded mode" in line)
    assert summary <= 8, lines[:summary]  # little before the summary a person needs
    tail = lines[summary:]
    assert any(f":{base}/docs" in line for line in tail) and "--role county_operator" in tail[-1], tail
