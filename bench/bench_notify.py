"""What the durable outbox, the executors and the audit log cost per alert, action and event.

    .venv/bin/python bench/bench_notify.py [--alerts 300] [--events 2000] [--actions 50]

In a fresh folder under bench/out/notify/ (deleted first), against a local HTTP server in a
thread that answers 200 at once:

* ``deliver()`` of N alerts in one call to one webhook channel (each: outbox file written and
  fsync'd, POST, sent.jsonl appended and fsync'd, outbox file removed, audit event fsync'd), and
  the same N again (all ``already sent``: the cost of deduplication);
* N alerts delivered one ``deliver()`` call each (how a policy run sends them);
* ``AuditLog.record`` appends (lock + fsync each), and reading them back;
* ``execute()`` of a command executor running ``true`` (plan, lock, run, record, audit),
  N distinct keys, then the same keys again (replayed from done.jsonl, nothing run).

Figures depend mostly on the disk's fsync latency.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aifinops.audit import AuditLog
from aifinops.config import Settings
from aifinops.notify import ActionRequest, Alert, deliver, execute

OUT = Path(__file__).resolve().parent / "out" / "notify"


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def alerts(n: int, prefix: str) -> list[Alert]:
    return [
        Alert(
            key=f"{prefix}:{i}",
            kind="budget.actual",
            severity="warning",
            title=f"Budget b{i}: 80% of 1,000.00 USD spent",
            text="800.00 USD spent of 1,000.00",
            fields={"budget": f"b{i}"},
            amount=Decimal("800.00"),
            currency="USD",
        )
        for i in range(n)
    ]


def timed(label: str, n: int, unit: str, action: Callable[[], object]) -> None:
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    print(f"| {label} | {n:,} | {seconds:.2f} s | {seconds / n * 1000:.2f} ms per {unit} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--actions", type=int, default=50)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings = Settings.model_validate(
        {
            "notify": {"channels": {"ops": {"type": "webhook", "url": url}}},
            "executors": {"noop": {"type": "command", "argv": [shutil.which("true") or "true"]}},
        }
    )
    n, batch, single = args.alerts, alerts(args.alerts, "batch"), alerts(args.alerts, "single")
    print("| what | n | total | each |\n|---|---|---|---|")
    timed("deliver, one call", n, "alert", lambda: deliver(OUT, settings, batch))
    timed("deliver again (already sent)", n, "alert", lambda: deliver(OUT, settings, batch))
    timed(
        "deliver, a call per alert",
        n,
        "alert",
        lambda: [deliver(OUT, settings, [a]) for a in single],
    )
    log = AuditLog(OUT / "audit-bench", actor="bench")
    (OUT / "audit-bench").mkdir()

    def record() -> None:
        for i in range(args.events):
            log.record("bench.event", i=i, cost=Decimal("1.25"))

    timed("audit record", args.events, "event", record)
    timed("audit read", args.events, "event", log.read)
    requests = [ActionRequest(f"noop:{i}", "noop", {"id": f"r-{i}"}) for i in range(args.actions)]

    def act() -> None:
        for request in requests:
            execute(OUT, settings, "noop", request, dry_run=False)

    timed("execute command (true)", args.actions, "action", act)
    timed("execute again (replayed)", args.actions, "action", act)
    server.shutdown()
    print(f"python {sys.version.split()[0]}; folder {OUT}")


if __name__ == "__main__":
    main()
