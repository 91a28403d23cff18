"""Shared helpers for bench scripts: fresh databases, a real server subprocess, keys."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get(
    "PATRON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, object]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": time.strftime("%Y-%m-%d"),
    }


def fresh_database(backend: str, name: str | None = None) -> str:
    name = name or f"patron_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{name}.db"
        drop_database(f"sqlite:///{path}")
        return f"sqlite:///{path}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def existing_database(backend: str, name: str) -> str | None:
    """The URL of a database kept by an earlier run (`--keep`), or None when there is none."""
    if backend == "sqlite":
        path = RESULTS / f"{name}.db"
        return f"sqlite:///{path}" if path.exists() else None
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name if found else None


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        spool = Path(str(path).removesuffix(".db") + "-spool.db")  # patron.db.spool_url
        for base in (path, spool):
            for suffix in ("", "-wal", "-shm"):
                Path(str(base) + suffix).unlink(missing_ok=True)
        return
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    engine.dispose()


def patron(url: str, *args: str) -> str:
    """Run a patron command against `url`; return its stdout."""
    env = {**os.environ, "PATRON_DATABASE_URL": url}
    out = subprocess.run(
        [str(BIN / "patron"), *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return out.stdout


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1].strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    url: str, *, workers: int = 2, with_worker: bool = False, env: dict[str, str] | None = None
) -> Iterator[str]:
    """`patron serve` on a free port; by default without its job worker (the server alone
    is measured), with `with_worker` as a store runs it (the worker beside the server);
    `env` adds settings (PATRON_...) for this server."""
    port = free_port()
    env = {**os.environ, "PATRON_DATABASE_URL": url, "PATRON_LOG_LEVEL": "warning", **(env or {})}
    proc = subprocess.Popen(
        [str(BIN / "patron"), "serve", "--port", str(port), "--workers", str(workers)]
        + ([] if with_worker else ["--no-worker"]),
        env=env,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class RawClient:
    """A lean HTTP/1.1 keep-alive client on asyncio streams, for load generation.

    httpx spends more CPU per request than the server under test does, and on a 2-core
    machine the load generator shares the cores with the server: a heavy client measures
    itself. This one only writes the request bytes and reads one Content-Length response.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def closed_loop(
    base: str,
    requests: list[tuple[str, str, bytes]],
    *,
    clients: int,
    headers: dict[str, str],
) -> tuple[list[float], float]:
    """Send (method, path, body) requests from `clients` concurrent keep-alive connections,
    each sending its next request when the last one answered. Returns latencies in ms and
    the wall time in seconds. Any non-2xx response aborts the run."""
    host, port = base.removeprefix("http://").split(":")
    queue = list(reversed(requests))
    latencies: list[float] = []

    async def worker() -> None:
        client = RawClient(host, int(port))
        try:
            while queue:
                method, path, body = queue.pop()
                t = time.perf_counter()
                status, payload = await client.request(method, path, headers, body)
                latencies.append((time.perf_counter() - t) * 1000)
                if status >= 300:
                    raise RuntimeError(f"{method} {path}: {status} {payload[:200]!r}")
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - started
