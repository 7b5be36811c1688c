"""Connection storm: can one address keep real shoppers from connecting?

Issue #11 measured that 1,000 connects in batches of 100 failed 871 handshakes, and that 40
anonymous connects a second failed 16 of 20 real shoppers. This bench replays that against the
real server in services mode (PostgreSQL, the Redis layer; the database of ``bench.load``), with
the attacker and the shoppers in a separate client process (``bench.storm_client``), each from
its own loopback address. For each setting, a fresh daphne:

* the shoppers' connect time (to the ``conversation`` frame) before the storm, and during it:
  p50 / p95 / max, how many over 500 ms, and failures;
* what the attacker's connects got (``conversation``, ``rate_limited``, handshake failures);
* conversation rows created by the storm (connects create none: rows start with a message).

Settings compared: the per-address limit off (``CHAT_CONNECTS_PER_MINUTE_PER_IP=0``) and on
(the default, 60 a minute).

Run::

    .venv/bin/python -m bench.connect_storm            # 10 batches of 100, 20 shoppers
    .venv/bin/python -m bench.connect_storm --batches 20 --batch-size 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from bench.load import (
    ROOT,
    STORE,
    VAR,
    ServerFailed,
    Setting,
    base_environment,
    flush_channel_layer,
    parse_args,
    query_one,
    setup,
    start_server,
    stop_server,
    wait_ready,
)
from bench.retrieval import log, section, table
from bench.storm_client import StormConfig

SETTINGS = (
    Setting("limit off", {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "0"}),
    Setting("limit on (60/min per address)", {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "60"}),
)


def _conversations(config: Any) -> int:
    return int(query_one(config, "SELECT COUNT(*) FROM chat_conversation") or 0)


def run(setting: Setting, config: Any, env: dict[str, str], storm: StormConfig) -> dict:
    flush_channel_layer()
    server = start_server(setting, env, VAR / f"storm-{setting.slug}.log")
    try:
        ready_s, _ = wait_ready(server, 120)
        url = f"ws://127.0.0.1:{server.port}/ws/chat/{STORE}/"
        client_config = {
            **asdict(storm),
            "url": url,
            "origin": f"http://127.0.0.1:{server.port}",
        }
        before = _conversations(config)
        log(f"{setting.name}: ready in {ready_s} s; storming")
        done = subprocess.run(
            [sys.executable, "-m", "bench.storm_client"],
            cwd=ROOT,
            input=json.dumps(client_config),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise ServerFailed(f"storm client failed: {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
        report["conversations_created"] = _conversations(config) - before
        return report
    finally:
        stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--shoppers", type=int, default=20)
    args = parser.parse_args(argv)
    config = parse_args(["--reuse", "--no-train"])
    env = base_environment(config)
    setup(config, env)
    storm = StormConfig(
        url="", origin="", batches=args.batches, batch_size=args.batch_size, shoppers=args.shoppers
    )
    results = {setting.name: run(setting, config, env, storm) for setting in SETTINGS}
    section(
        f"Connection storm: {args.batches} x {args.batch_size} connects from one address, "
        f"{args.shoppers} shoppers from their own addresses reconnecting every second"
    )
    rows = []
    for name, r in results.items():
        quiet, during = r["quiet"], r["during"]
        rows.append(
            [
                name,
                f"{quiet.get('p50_ms', '-')} / {quiet.get('max_ms', '-')} ms",
                f"{during.get('p50_ms', '-')} / {during.get('p95_ms', '-')} / "
                f"{during.get('max_ms', '-')} ms",
                f"{during.get('over_500ms', '-')} of {during.get('n', 0)}",
                json.dumps(r["during_failures"]) if r["during_failures"] else "0",
                json.dumps(r["attack"]),
                f"{r['attack_connects_per_s']}/s",
                str(r["conversations_created"]),
            ]
        )
    print(
        table(
            [
                "setting",
                "shopper connect before (p50 / max)",
                "during the storm (p50 / p95 / max)",
                "> 500 ms",
                "shopper failures",
                "attacker's connects",
                "attack rate",
                "rows created",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
