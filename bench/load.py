"""Load harness: many shoppers chatting at once with real servers, one setting against another.

What one run measures, for each setting compared (default ``CHAT_BATCHING=0`` against
``CHAT_BATCHING=1``), with the server(s) started fresh each time:

* seconds from starting the server until ``GET /readyz`` answers 200 (503 while it warms; where
  the server has no ``/readyz`` yet, until ``/healthz`` or the storefront answers 200);
* the first reply after ready: one shopper, one message, in ms;
* then N concurrent shoppers (``--shoppers 500``) from a separate client process
  (``bench.load_client``: asyncio + ``websockets``), connections ramped over ``--ramp`` s, each
  sending ``--messages`` distinct realistic texts (``bench.shopper_texts``) with a think time of
  uniform(0, ``--think``) s after each reply: replies/s over the message phase, reply latency
  p50/p95/p99/max, ``busy`` frames, errors by code, lost replies (none within
  ``--reply-timeout``), conversations handed off to a human, connection failures by kind;
* meanwhile, every 0.5 s, the server's processes (the group leader and its children, psutil):
  CPU % summed (100% = one core), mean and max, resident memory summed (max), and the load
  average.

The figures are printed side by side with the targets (500 shoppers x 5 messages, think 0-4 s:
>= 150 replies/s, p99 <= 1000 ms, no errors, none lost; first reply after ready < 200 ms).

Services mode (the default): PostgreSQL database ``shopdesk_bench_load`` (dropped and created
unless ``--reuse`` finds the demo in it), the Redis channel layer on db 12, tasks eager, models
in ``var/bench-load/models``. Setup runs ``migrate``, ``load_demo``, ``build_index`` and
``train_intents --if-none-live`` (2-3 minutes) as subprocesses; ``--no-train`` leaves the demo
without an intent model (the bot answers from retrieval); ``--floor`` makes a floor intent
model live (``train_intents --max-epochs 0``), which reads the retrieval embedding of each
message (``CHAT_SHARED_ENCODER``). ``--embedded``: SQLite in
``var/bench-load/embedded.sqlite3`` and the in-memory channel layer, one daphne process.
``--server uvicorn --workers N`` runs uvicorn instead of one daphne. Server logs go to
``var/bench-load/<setting>.log`` (``embedded-<setting>.log``).

Run::

    .venv/bin/python -m bench.load --shoppers 500 --messages 5
    .venv/bin/python -m bench.load --reuse --server uvicorn --workers 2
    .venv/bin/python -m bench.load --compare "daphne:" --compare "uv2:server=uvicorn,workers=2"
    .venv/bin/python -m bench.load --embedded --shoppers 50
    .venv/bin/python -m bench.load --no-train --shoppers 20 --messages 2 --json var/load.json

``--compare "NAME:ENV=V,ENV2=V2"`` (repeatable) replaces the default settings; the lowercase
keys ``server`` and ``workers`` choose the server for that setting. Tables go to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.load_client import ClientConfig, drive
from bench.retrieval import environment, log, section, table
from bench.sentiment import _bench_database
from tests.servers import free_port, start_daphne, start_server_process

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "bench-load"
BENCH_DB = "shopdesk_bench_load"
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/12"
STORE = "demo"
DEFAULT_COMPARE = ("unbatched:CHAT_BATCHING=0", "batched:CHAT_BATCHING=1")
# --floor: the floor just trained goes live even where a better fine-tuned model was (a reused
# database), through the registry's own promotion.
PROMOTE_NEWEST_INTENT = (
    "from webapp.mlops.models import ModelVersion; "
    "from webapp.mlops.services import model_version_promote; "
    f"v = ModelVersion.objects.filter(store__slug='{STORE}', kind='intent').latest('version'); "
    "v.is_live or model_version_promote(version_id=v.id, reason='bench.load --floor')"
)
# Not one of the generated texts, and not an escalation: an ordinary FAQ question.
FIRST_MESSAGE = "hi, how long does delivery to Belgium usually take?"

READY_PATHS = ("/readyz", "/healthz", f"/s/{STORE}/")
READY_POLL_S = 0.1
READY_PROBES_PER_WORKER = 3
SAMPLE_EVERY_S = 0.5
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 30
MB = 1024 * 1024

TARGET_LOAD = {"shoppers": 500, "messages": 5, "think_s": 4.0}
TARGET_REPLIES_PER_S = 150.0
TARGET_P99_MS = 1000.0
TARGET_FIRST_REPLY_MS = 200.0


@dataclass(frozen=True)
class Setting:
    name: str
    env: dict[str, str]
    server: str = "daphne"  # or "uvicorn"
    workers: int = 1

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", self.name).strip("-") or "setting"


@dataclass(frozen=True)
class LoadConfig:
    shoppers: int
    messages: int
    ramp_s: float
    think_s: float
    reply_timeout_s: float
    open_timeout_s: float
    seed: int
    embedded: bool
    reuse: bool
    train: bool
    floor: bool
    ready_timeout_s: float
    settings: tuple[Setting, ...]
    json_path: Path | None


class ServerFailed(RuntimeError):
    """The server exited or never became ready."""


# --- settings and arguments -----------------------------------------------------------------


def parse_setting(spec: str, server: str, workers: int) -> Setting:
    """``NAME:ENV=V,ENV2=V2``; the keys ``server`` and ``workers`` pick the server instead."""
    name, _, assignments = spec.partition(":")
    env: dict[str, str] = {}
    for assignment in filter(None, (part.strip() for part in assignments.split(","))):
        key, equals, value = assignment.partition("=")
        if not equals or not key:
            raise argparse.ArgumentTypeError(f"{spec!r}: expected KEY=VALUE, got {assignment!r}")
        if key == "server":
            server = value
        elif key == "workers":
            workers = int(value)
        else:
            env[key] = value
    if server not in ("daphne", "uvicorn"):
        raise argparse.ArgumentTypeError(f"{spec!r}: server must be daphne or uvicorn")
    if server == "daphne" and workers != 1:
        raise argparse.ArgumentTypeError(f"{spec!r}: daphne runs one process; use uvicorn")
    return Setting(name=name.strip() or spec, env=env, server=server, workers=workers)


def parse_args(argv: list[str] | None) -> LoadConfig:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, help="concurrent shoppers (500; 50 embedded)")
    parser.add_argument("--messages", type=int, default=5, help="messages per shopper")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds to open all sockets")
    parser.add_argument("--think", type=float, default=4.0, help="think time: uniform(0, T) s")
    parser.add_argument("--reply-timeout", type=float, default=15.0, help="lost after T s")
    parser.add_argument("--open-timeout", type=float, default=20.0, help="websocket open, s")
    parser.add_argument("--seed", type=int, default=7, help="shopper texts and think times")
    parser.add_argument("--embedded", action="store_true", help="SQLite + in-memory layer")
    parser.add_argument("--reuse", action="store_true", help="keep a database with the demo")
    parser.add_argument("--no-train", action="store_true", help="no intent model: retrieval")
    parser.add_argument(
        "--floor", action="store_true", help="the live intent model is a floor (shared encoder)"
    )
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to ready")
    parser.add_argument(
        "--compare",
        action="append",
        metavar="NAME:ENV=V,...",
        help=f"a setting to compare (repeatable); default {' and '.join(DEFAULT_COMPARE)}",
    )
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    args = parser.parse_args(argv)
    try:
        settings = tuple(
            parse_setting(spec, args.server, args.workers)
            for spec in args.compare or DEFAULT_COMPARE
        )
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.embedded and any(s.workers > 1 for s in settings):
        parser.error("--embedded has an in-memory channel layer: one server process")
    if len({s.slug for s in settings}) < len(settings):
        parser.error("settings need distinct names")
    return LoadConfig(
        shoppers=args.shoppers or (50 if args.embedded else 500),
        messages=args.messages,
        ramp_s=args.ramp,
        think_s=args.think,
        reply_timeout_s=args.reply_timeout,
        open_timeout_s=args.open_timeout,
        seed=args.seed,
        embedded=args.embedded,
        reuse=args.reuse,
        train=not args.no_train,
        floor=args.floor,
        ready_timeout_s=args.ready_timeout,
        settings=settings,
        json_path=args.json,
    )


# --- setup: the database, the demo store, its index and model -------------------------------


def sqlite_path() -> Path:
    return VAR / "embedded.sqlite3"


def model_dir(config: LoadConfig) -> Path:
    return VAR / ("embedded-models" if config.embedded else "models")


def database_url(config: LoadConfig) -> str:
    if config.embedded:
        return f"sqlite:///{sqlite_path()}"
    return POSTGRES.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def base_environment(config: LoadConfig) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_URL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATABASE_URL": database_url(config),
            "MODEL_DIR": str(model_dir(config)),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            # Every simulated shopper connects from 127.0.0.1: the per-IP flood limit would
            # refuse the crowd this bench is about (override with --compare to measure it).
            "CHAT_CONNECTS_PER_MINUTE_PER_IP": "0",
            # A deployment's settings (DEBUG off) over plain HTTP on loopback.
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "0",
        }
    )
    if not config.embedded:
        env["REDIS_URL"] = REDIS_URL
    return env


def query_one(config: LoadConfig, sql: str) -> Any:
    """One value from the bench database, or None where the database or table is missing."""
    if config.embedded:
        if not sqlite_path().exists():
            return None
        with contextlib.closing(sqlite3.connect(sqlite_path())) as connection:
            try:
                row = connection.execute(sql).fetchone()
            except sqlite3.OperationalError:
                return None
        return row[0] if row else None
    import psycopg

    try:
        with psycopg.connect(database_url(config), autocommit=True) as connection:
            row = connection.execute(sql).fetchone()  # type: ignore[arg-type]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return row[0] if row else None


def demo_present(config: LoadConfig) -> bool:
    return bool(query_one(config, f"SELECT COUNT(*) FROM stores_store WHERE slug = '{STORE}'"))


def intent_model_live(config: LoadConfig) -> bool:
    sql = (
        "SELECT COUNT(*) FROM mlops_modelversion v JOIN stores_store s ON s.id = v.store_id "
        f"WHERE s.slug = '{STORE}' AND v.kind = 'intent' AND v.state = 'live'"
    )
    return bool(query_one(config, sql))


def fresh_database(config: LoadConfig) -> None:
    shutil.rmtree(model_dir(config), ignore_errors=True)
    if config.embedded:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{sqlite_path()}{suffix}").unlink(missing_ok=True)
    else:
        _bench_database(BENCH_DB)


def manage(env: dict[str, str], *args: str) -> float:
    """``manage.py ARGS`` in a subprocess, output appended to the setup log; seconds taken."""
    started = time.perf_counter()
    setup_log = VAR / "setup.log"
    with setup_log.open("ab") as handle:
        handle.write(f"\n$ manage.py {' '.join(args)}\n".encode())
        handle.flush()
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    if done.returncode != 0:
        print_tail(setup_log, f"manage.py {' '.join(args)} failed ({done.returncode})")
        raise SystemExit(1)
    return round(time.perf_counter() - started, 1)


def setup(config: LoadConfig, env: dict[str, str]) -> dict[str, Any]:
    """The demo store, indexed, with (unless ``--no-train``) a live intent model; cached."""
    VAR.mkdir(parents=True, exist_ok=True)
    reused = config.reuse and demo_present(config)
    if not reused:
        log(f"fresh database {database_url(config)}")
        fresh_database(config)
    steps: dict[str, float] = {}
    log("migrate")
    steps["migrate"] = manage(env, "migrate", "--noinput", "-v0")
    if not reused:
        log("load_demo")
        steps["load_demo"] = manage(env, "load_demo")
    log("build_index")
    steps["build_index"] = manage(env, "build_index", "--store", STORE)
    if config.train and config.floor:
        log("train_intents --max-epochs 0 (the floor, ~30 s), made live")
        steps["train_intents"] = manage(env, "train_intents", "--store", STORE, "--max-epochs", "0")
        steps["promote"] = manage(env, "shell", "-c", PROMOTE_NEWEST_INTENT)
    elif config.train:
        log("train_intents --if-none-live (2-3 minutes unless a model is live)")
        steps["train_intents"] = manage(env, "train_intents", "--store", STORE, "--if-none-live")
    live = intent_model_live(config)
    if not config.train and live:
        log("note: the reused database has a live intent model; the bot uses it")
    return {"reused": reused, "seconds": steps, "intent_model_live": live}


# --- one server --------------------------------------------------------------------------


@dataclass
class Server:
    setting: Setting
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started: float

    def tree(self) -> list[psutil.Process]:
        try:
            leader = psutil.Process(self.process.pid)
            return [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def start_server(setting: Setting, env: dict[str, str], log_path: Path) -> Server:
    port = free_port()
    server_env = {**env, **setting.env}
    started = time.monotonic()
    if setting.server == "daphne":
        process = start_daphne(server_env, log_path, port)
    else:
        argv = ["uvicorn", "webapp.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", str(setting.workers), "--ws", "websockets"]
        process = start_server_process(argv, server_env, log_path)
    return Server(setting, process, port, log_path, started)


def http_status(port: int, path: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, urllib.error.URLError):
        return None


def wait_ready(server: Server, timeout: float) -> tuple[float, str]:
    """Seconds from start until the first of READY_PATHS the server has answers 200, and
    which path that was; a 404 moves on to the next path."""
    paths = list(READY_PATHS)
    # Workers share one listening socket and any of them may answer a probe: several 200s in
    # a row make it likely that every worker is warm, not just the first.
    needed = 1 if server.setting.workers == 1 else READY_PROBES_PER_WORKER * server.setting.workers
    answered = 0
    deadline = server.started + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"exited with {server.process.returncode} before ready")
        status = http_status(server.port, paths[0])
        answered = answered + 1 if status == 200 else 0
        if answered >= needed:
            return round(time.monotonic() - server.started, 2), paths[0]
        if status == 404 and len(paths) > 1:
            paths.pop(0)
            continue
        if status != 200:
            time.sleep(READY_POLL_S)
    raise ServerFailed(f"not ready after {timeout:.0f} s (last probe {paths[0]})")


def stop_server(server: Server) -> dict[str, Any]:
    """SIGTERM to the whole group, SIGKILL to whatever is left after STOP_GRACE_S."""
    started = time.monotonic()
    pgid = server.process.pid  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    killed = False
    while True:
        server.process.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() - started > STOP_GRACE_S:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.1)
    server.process.wait(timeout=STOP_GRACE_S)
    return {"seconds": round(time.monotonic() - started, 2), "killed": killed}


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def print_tail(path: Path, title: str) -> None:
    log(f"--- {title}: last lines of {path.relative_to(ROOT)} ---\n{log_tail(path)}\n---")


def last_traceback(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    start = text.rfind("Traceback (most recent")
    return "\n".join(text[start:].splitlines()[:lines]) if start >= 0 else ""


def tracebacks(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_text(encoding="utf-8", errors="replace").count("Traceback (most recent")


def flush_channel_layer() -> None:
    """A cold start: no groups or queued events left by the previous server."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# --- sampling -------------------------------------------------------------------------------


class TreeSampler:
    """CPU % and RSS of a process tree every SAMPLE_EVERY_S, on a thread of its own."""

    def __init__(self, roots: dict[str, Any]) -> None:
        self.roots = roots  # name -> callable returning that tree's processes
        self.samples: list[dict[str, float]] = []
        self._known: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        psutil.cpu_percent(None)  # cpu_percent's first call only sets its baseline
        for tree in self.roots.values():
            self._measure(tree())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _measure(self, processes: list[psutil.Process]) -> tuple[float, float, int]:
        cpu = rss = 0.0
        alive = 0
        for process in processes:
            known = self._known.setdefault(process.pid, process)
            try:
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
                alive += 1
            except psutil.NoSuchProcess:
                continue
        return cpu, rss / MB, alive

    def _run(self) -> None:
        cores = psutil.cpu_count() or 1
        while not self._stop.wait(SAMPLE_EVERY_S):
            sample: dict[str, float] = {
                "load1": os.getloadavg()[0],
                "machine_cpu": psutil.cpu_percent(None) * cores,
            }
            for name, tree in self.roots.items():
                cpu, rss, alive = self._measure(tree())
                sample |= {f"{name}_cpu": cpu, f"{name}_rss_mb": rss, f"{name}_procs": alive}
            self.samples.append(sample)

    def summary(self, name: str) -> dict[str, float]:
        cpu = [s[f"{name}_cpu"] for s in self.samples if s[f"{name}_procs"]]
        rss = [s[f"{name}_rss_mb"] for s in self.samples]
        return {
            "cpu_mean": round(sum(cpu) / len(cpu), 1) if cpu else 0.0,
            "cpu_max": round(max(cpu), 1) if cpu else 0.0,
            "rss_max_mb": round(max(rss), 1) if rss else 0.0,
            "samples": len(self.samples),
        }

    def load_max(self) -> float:
        return round(max((s["load1"] for s in self.samples), default=0.0), 2)

    def others_cpu_mean(self) -> float:
        """CPU % of everything on the machine but the trees sampled (100% = one core): other
        work sharing the cores makes the figures pessimistic."""
        others = [
            max(0.0, s["machine_cpu"] - sum(s[f"{name}_cpu"] for name in self.roots))
            for s in self.samples
        ]
        return round(sum(others) / len(others), 1) if others else 0.0


def client_tree(process: subprocess.Popen[str]) -> list[psutil.Process]:
    try:
        return [psutil.Process(process.pid)]
    except psutil.NoSuchProcess:
        return []


# --- the shoppers -------------------------------------------------------------------------


def client_config(config: LoadConfig, port: int) -> ClientConfig:
    return ClientConfig(
        url=f"ws://127.0.0.1:{port}/ws/chat/{STORE}/",
        origin=f"http://127.0.0.1:{port}",
        shoppers=config.shoppers,
        messages=config.messages,
        ramp_s=config.ramp_s,
        think_s=config.think_s,
        reply_timeout_s=config.reply_timeout_s,
        open_timeout_s=config.open_timeout_s,
        seed=config.seed,
    )


def first_reply(config: LoadConfig, port: int) -> dict[str, Any]:
    """One shopper, one message, right after ready: what the first visitor waits."""
    one = ClientConfig(
        **{
            **asdict(client_config(config, port)),
            "shoppers": 1,
            "messages": 1,
            "ramp_s": 0.0,
            "think_s": 0.0,
            "texts": (FIRST_MESSAGE,),
        }
    )
    report = asyncio.run(drive(one))
    answered = report.replies == 1
    return {
        "ms": report.latency_ms["p50"] if answered else None,
        "outcome": "reply" if answered else json.dumps(asdict(report)),
    }


def client_deadline(config: LoadConfig) -> float:
    per_message = config.think_s + config.reply_timeout_s + 2.0
    return config.ramp_s + config.open_timeout_s + config.messages * per_message + 120.0


def run_client(config: LoadConfig, server: Server) -> tuple[dict[str, Any], TreeSampler]:
    """The shoppers in their own process, the server and client sampled meanwhile."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.load_client"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = TreeSampler({"server": server.tree, "client": lambda: client_tree(process)})
    with sampler:
        try:
            stdout, _ = process.communicate(
                json.dumps(asdict(client_config(config, server.port))),
                timeout=client_deadline(config),
            )
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise ServerFailed("the load client did not finish in time") from None
    if process.returncode != 0:
        raise ServerFailed(f"the load client exited with {process.returncode}")
    return json.loads(stdout.strip().splitlines()[-1]), sampler


# --- one setting -------------------------------------------------------------------------


def run_setting(setting: Setting, config: LoadConfig, env: dict[str, str]) -> dict[str, Any]:
    if not config.embedded:
        flush_channel_layer()
    log(f"[{setting.name}] starting {setting.server} ({setting.workers} worker(s)) {setting.env}")
    mode = "embedded-" if config.embedded else ""
    server = start_server(setting, env, VAR / f"{mode}{setting.slug}.log")
    result: dict[str, Any] = {
        "setting": setting.name,
        "env": setting.env,
        "server": setting.server,
        "workers": setting.workers,
        "log": str(server.log_path.relative_to(ROOT)),
        "failed": None,
    }
    try:
        result["ready_s"], result["ready_probe"] = wait_ready(server, config.ready_timeout_s)
        result["processes"] = len(server.tree())
        result["rss_at_ready_mb"] = round(sum(p.memory_info().rss for p in server.tree()) / MB, 1)
        log(f"[{setting.name}] ready in {result['ready_s']} s ({result['ready_probe']})")
        result["first_reply"] = first_reply(config, server.port)
        log(f"[{setting.name}] first reply after ready: {result['first_reply']['ms']} ms")
        log(f"[{setting.name}] {config.shoppers} shoppers x {config.messages} messages")
        result["client"], sampler = run_client(config, server)
        result["server_usage"] = sampler.summary("server")
        result["client_usage"] = sampler.summary("client")
        result["load_average_max"] = sampler.load_max()
        result["other_processes_cpu_mean"] = sampler.others_cpu_mean()
        if server.process.poll() is not None:
            raise ServerFailed(f"exited with {server.process.returncode} during the run")
    except ServerFailed as exc:
        result["failed"] = str(exc)
    finally:
        result["stop"] = stop_server(server)
    result["tracebacks"] = tracebacks(server.log_path)
    if result["tracebacks"]:
        result["last_traceback"] = last_traceback(server.log_path)
        log(f"--- {setting.name}: {result['tracebacks']} traceback(s) in the server log, the last:")
        log(result["last_traceback"])
    if result["failed"]:
        print_tail(server.log_path, f"{setting.name}: {result['failed']}")
    return result


# --- output -------------------------------------------------------------------------------


def counts(values: dict[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in values.items()) or "0"


def misses(result: dict[str, Any]) -> list[str]:
    if result["failed"]:
        return ["failed"]
    client, first = result["client"], result["first_reply"]
    checks = {
        "replies/s": client["replies_per_s"] >= TARGET_REPLIES_PER_S,
        "p99": client["latency_ms"]["p99"] <= TARGET_P99_MS,
        "errors": not client["errors"] and not client["connect_failures"],
        "lost": client["lost"] == 0,
        "first reply": first["ms"] is not None and first["ms"] < TARGET_FIRST_REPLY_MS,
    }
    return [name for name, met in checks.items() if not met]


ROWS: tuple[tuple[str, str], ...] = (
    ("server", "-"),
    ("processes", "-"),
    ("seconds to ready", "-"),
    ("ready probe", "/readyz"),
    ("first reply after ready ms", f"< {TARGET_FIRST_REPLY_MS:.0f}"),
    ("shoppers connected", f"{TARGET_LOAD['shoppers']}"),
    ("connect failures", "0"),
    ("messages sent", f"{TARGET_LOAD['shoppers'] * TARGET_LOAD['messages']}"),
    ("replies", "all"),
    ("replies/s", f">= {TARGET_REPLIES_PER_S:.0f}"),
    ("p50 ms", "-"),
    ("p95 ms", "-"),
    ("p99 ms", f"<= {TARGET_P99_MS:.0f}"),
    ("max ms", "-"),
    ("errors by code", "0"),
    ("busy frames", "-"),
    ("lost", "0"),
    ("handed off", "-"),
    ("server CPU mean / max %", "-"),
    ("server RSS max MB", "-"),
    ("client CPU mean %", "-"),
    ("other processes CPU mean %", "0"),
    ("tracebacks in server log", "0"),
    ("meets targets", "-"),
)


def cells(result: dict[str, Any]) -> dict[str, str]:
    base = {
        "server": f"{result['server']} x{result['workers']}",
        "processes": str(result.get("processes", "-")),
        "seconds to ready": str(result.get("ready_s", "-")),
        "ready probe": result.get("ready_probe", "-"),
        "tracebacks in server log": str(result["tracebacks"]),
    }
    if result["failed"]:
        return base | {"meets targets": f"no: {result['failed']}"}
    client, first = result["client"], result["first_reply"]
    latency, server = client["latency_ms"], result["server_usage"]
    missed = misses(result)
    return base | {
        "first reply after ready ms": f"{first['ms']:.1f}" if first["ms"] is not None else "none",
        "shoppers connected": f"{client['connected']} / {client['shoppers']}",
        "connect failures": counts(client["connect_failures"]),
        "messages sent": str(client["messages_sent"]),
        "replies": str(client["replies"]),
        "replies/s": f"{client['replies_per_s']:.1f}",
        "p50 ms": f"{latency['p50']:.1f}",
        "p95 ms": f"{latency['p95']:.1f}",
        "p99 ms": f"{latency['p99']:.1f}",
        "max ms": f"{latency['max']:.1f}",
        "errors by code": counts(client["errors"]),
        "busy frames": str(client["busy_frames"]),
        "lost": str(client["lost"]),
        "handed off": str(client["handed_off"]),
        "server CPU mean / max %": f"{server['cpu_mean']:.0f} / {server['cpu_max']:.0f}",
        "server RSS max MB": f"{server['rss_max_mb']:.0f}",
        "client CPU mean %": f"{result['client_usage']['cpu_mean']:.0f}",
        "other processes CPU mean %": f"{result['other_processes_cpu_mean']:.0f}",
        "meets targets": "yes" if not missed else "no: " + ", ".join(missed),
    }


def print_results(results: dict[str, Any], config: LoadConfig) -> None:
    env = results["environment"]
    mode = "embedded (SQLite, in-memory layer)" if config.embedded else "services"
    model = "intent model live" if results["setup"]["intent_model_live"] else "retrieval only"
    section(
        f"Chat under load: {config.shoppers} shoppers x {config.messages} messages, think "
        f"0-{config.think_s:g} s, ramp {config.ramp_s:g} s ({mode}, {model})"
    )
    per_setting = [cells(result) for result in results["settings"]]
    headers = ["", *(result["setting"] for result in results["settings"]), "target"]
    rows = [[label, *(c.get(label, "-") for c in per_setting), target] for label, target in ROWS]
    print(table(headers, rows))
    if (config.shoppers, config.messages, config.think_s) != tuple(TARGET_LOAD.values()):
        print(
            f"\ntargets are for {TARGET_LOAD['shoppers']} shoppers x {TARGET_LOAD['messages']} "
            f"messages, think 0-{TARGET_LOAD['think_s']:g} s: this run's replies/s is not "
            "comparable"
        )
    print(
        f"\n{env['cpus']} CPUs, python {env['python']}, torch {env['torch']}; load average "
        f"(1 min) {env['load_average_1min_at_start']:.2f} at start, max during the runs "
        f"{max((r.get('load_average_max', 0.0) for r in results['settings']), default=0.0):.2f}"
    )
    print(f"setup: {results['setup']}")
    print("server logs: " + ", ".join(r["log"] for r in results["settings"]))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # environment() loads the encoder
    load_at_start = os.getloadavg()[0]
    env = base_environment(config)
    results: dict[str, Any] = {
        "config": {
            **asdict(config),
            "json_path": str(config.json_path) if config.json_path else None,
        },
        "environment": environment(load_at_start),
        "setup": setup(config, env),
        "settings": [],
    }
    for setting in config.settings:
        results["settings"].append(run_setting(setting, config, env))
    print_results(results, config)
    if config.json_path:
        config.json_path.parent.mkdir(parents=True, exist_ok=True)
        config.json_path.write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {config.json_path}")
    return 1 if any(r["failed"] for r in results["settings"]) else 0


if __name__ == "__main__":
    sys.exit(main())
