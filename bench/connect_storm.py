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

Settings compared: one daphne with the per-address limit off (``CHAT_CONNECTS_PER_MINUTE_PER_IP=0``)
and on (the default, 60 a minute), and two uvicorn workers with it on. Also sampled: the CPU of
the server's processes and of the client process (100% = one core).

Run::

    .venv/bin/python -m bench.connect_storm            # 10 batches of 100, 20 shoppers
    .venv/bin/python -m bench.connect_storm --batches 20 --batch-size 100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.load import (
    ROOT,
    STORE,
    VAR,
    ServerFailed,
    Setting,
    TreeSampler,
    base_environment,
    client_tree,
    flush_channel_layer,
    http_status,
    parse_args,
    query_one,
    setup,
    start_server,
    stop_server,
    wait_ready,
)
from bench.retrieval import log, section, table
from bench.storm_client import StormConfig
from tests.servers import free_port

SETTINGS = (
    Setting("daphne, limit off", {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "0"}),
    Setting("daphne, limit on (60/min)", {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "60"}),
    Setting(
        # The app sees nginx's address for everyone here, so its own per-address limit is off.
        "nginx in front of daphne (docker/nginx.conf)",
        {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "0", "BEHIND_NGINX": "1"},
    ),
    Setting(
        "uvicorn x2, limit on (60/min)",
        {"CHAT_CONNECTS_PER_MINUTE_PER_IP": "60", "WEB_CONCURRENCY": "2"},
        server="uvicorn",
        workers=2,
    ),
)


NGINX_CONF = ROOT / "docker" / "nginx.conf"


def _start_nginx(upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """nginx with docker/nginx.conf in front of ``upstream_port``; (process, its port)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("the nginx setting needs nginx (apt-get install nginx-light)")
    port = free_port()
    folder = VAR / "nginx"
    folder.mkdir(parents=True, exist_ok=True)
    conf = NGINX_CONF.read_text()
    conf = conf.replace("server web:8000;", f"server 127.0.0.1:{upstream_port};")
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    conf = f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n" + conf
    conf = conf.replace(
        "http {", f"http {{\n    access_log off;\n    client_body_temp_path {folder};", 1
    )
    (folder / "nginx.conf").write_text(conf)
    process = subprocess.Popen(
        [nginx, "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while http_status(port, "/healthz") != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServerFailed(f"nginx did not start: {(folder / 'error.log').read_text()[-1000:]}")
        time.sleep(0.1)
    return process, port


def _conversations(config: Any) -> int:
    return int(query_one(config, "SELECT COUNT(*) FROM chat_conversation") or 0)


def run(setting: Setting, config: Any, env: dict[str, str], storm: StormConfig) -> dict:
    flush_channel_layer()
    behind_nginx = setting.env.get("BEHIND_NGINX") == "1"
    server = start_server(setting, env, VAR / f"storm-{setting.slug}.log")
    nginx = None
    try:
        ready_s, _ = wait_ready(server, 120)
        port = server.port
        if behind_nginx:
            nginx, port = _start_nginx(server.port)
        url = f"ws://127.0.0.1:{port}/ws/chat/{STORE}/"
        client_config = {**asdict(storm), "url": url, "origin": f"http://127.0.0.1:{port}"}
        before = _conversations(config)
        log(f"{setting.name}: ready in {ready_s} s; storming")
        client = subprocess.Popen(
            [sys.executable, "-m", "bench.storm_client"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with TreeSampler({"server": server.tree, "client": lambda: client_tree(client)}) as cpu:
            stdout, stderr = client.communicate(json.dumps(client_config), timeout=600)
        if client.returncode != 0:
            raise ServerFailed(f"storm client failed: {stderr[-2000:]}")
        report = json.loads(stdout)
        report["conversations_created"] = _conversations(config) - before
        report["server_cpu"] = cpu.summary("server")["cpu_mean"]
        report["client_cpu"] = cpu.summary("client")["cpu_mean"]
        return report
    finally:
        if nginx is not None:
            os.killpg(nginx.pid, signal.SIGTERM)
            nginx.wait(timeout=10)
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
                f"{r['server_cpu']:.0f}% / {r['client_cpu']:.0f}%",
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
                "CPU server / clients",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
