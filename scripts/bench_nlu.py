"""NLU benchmark (prints a table; not a test): training time, model load time, parse latency
p50/p95/p99 in-process and through the Rasa HTTP API at 1, 8 and 32 concurrent clients.

    .venv/bin/python scripts/bench_nlu.py [--model PATH] [--requests 400]

Without --model it trains a fresh model into a temporary directory (that is the training
time measured). Messages: our own evaluation file plus the benchmark letters when present.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlu.evaluation import default_eval_sets, read_eval_tsv
from nlu.training import Parser, quiet_rasa_logging, train_model

CONCURRENCY = (1, 8, 32)


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return q[49], q[94], q[98]


def messages() -> list[str]:
    texts = [e.text for path in default_eval_sets().values() for e in read_eval_tsv(path)]
    return texts or ["楼道里堆满了杂物"]


async def _in_process(agent, texts: list[str], clients: int, total: int) -> list[float]:
    latencies: list[float] = []
    queue = list(range(total))

    async def client() -> None:
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            await agent.parse_message(texts[i % len(texts)])
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def _over_http(url: str, token: str, texts: list[str], clients: int, total: int) -> list[float]:
    import httpx

    latencies: list[float] = []
    queue = list(range(total))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        async def client() -> None:
            while queue:
                i = queue.pop()
                started = time.perf_counter()
                response = await http.post(f"{url}/model/parse", params={"token": token},
                                           json={"text": texts[i % len(texts)]})
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rasa_server(model: Path, port: int, token: str) -> tuple[subprocess.Popen, float]:
    import httpx

    rasa = Path(sys.executable).with_name("rasa")
    log = Path(tempfile.gettempdir()) / f"bench-nlu-rasa-{port}.log"
    started = time.perf_counter()
    with log.open("w") as output:  # the server writes to its own copy of the file
        process = subprocess.Popen(
            [str(rasa), "run", "--enable-api", "--auth-token", token, "--port", str(port),
             "--model", str(model), "--interface", "127.0.0.1"],
            cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LOG_LEVEL": "WARNING"},
        )
    deadline = started + 180
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rasa run exited with {process.returncode}; see {log}")
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/status", params={"token": token}, timeout=2)
            if status.status_code == 200 and status.json().get("model_file"):
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError("rasa server did not become ready in 180 s")


def row(name: str, clients: int, samples: list[float], seconds: float) -> str:
    p50, p95, p99 = percentiles(samples)
    return (f"{name:<12}{clients:>8}{len(samples):>7}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}"
            f"{len(samples) / seconds:>9.0f}")


def main() -> int:
    args_parser = argparse.ArgumentParser()
    args_parser.add_argument("--model", type=Path, help="existing model (skips the training)")
    args_parser.add_argument("--requests", type=int, default=400)
    args = args_parser.parse_args()
    quiet_rasa_logging()
    texts = messages()
    lines = []

    model = args.model
    if model is None:
        trained = train_model(Path(tempfile.mkdtemp(prefix="bench-nlu-")))
        model = trained.path
        lines.append(f"full training (NLU + policies): {trained.seconds:.1f} s")

    parser = Parser(model)
    lines.append(f"model load in-process (Agent.load): {parser.load_seconds:.1f} s")
    agent = parser._agent
    for text in texts[:20]:  # warm-up
        parser.parse(text)

    table = [f"{'path':<12}{'clients':>8}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}"]
    for clients in CONCURRENCY:
        started = time.perf_counter()
        samples = parser._loop.run_until_complete(_in_process(agent, texts, clients, args.requests))
        table.append(row("in-process", clients, samples, time.perf_counter() - started))
    parser.close()

    port, token = free_port(), secrets.token_hex(16)
    process, ready_seconds = start_rasa_server(model, port, token)
    lines.append(f"rasa run start-up until the model is served: {ready_seconds:.1f} s")
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(_over_http(url, token, texts, 1, 20))  # warm-up
        for clients in CONCURRENCY:
            started = time.perf_counter()
            samples = asyncio.run(_over_http(url, token, texts, clients, args.requests))
            table.append(row("http", clients, samples, time.perf_counter() - started))
    finally:
        process.terminate()
        process.wait(timeout=30)

    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"messages: {len(texts)} texts, mean {mean_chars:.0f} characters; {os.cpu_count()} CPUs")
    print("\n".join(lines))
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
