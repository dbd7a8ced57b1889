"""Soak: many concurrent streams for a while, on 127.0.0.1; nothing may go wrong.

Run: ``python -m benchmarks.soak`` (64 streams for 30 s). Starts the server,
keeps ``--streams`` clients streaming 200-character replies back to back for
``--seconds``, and reports errors, completed streams and the server's RSS over
time. Exits 1 if any stream failed or RSS grew more than ``--max-growth-mib``
after the warm-up (the first fifth of the run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field

from benchmarks.load import StreamError, read_stream
from tests.support.processes import Server, serve

SERVER = ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"]
BODY = {"input": "soak " * 40}


@dataclass
class SoakResult:
    """What a soak run saw."""

    seconds: float
    streams: int
    completed: int = 0
    errors: int = 0
    chunks: int = 0
    rss_mib: list[tuple[float, float]] = field(default_factory=list)

    @property
    def warm_rss_mib(self) -> float:
        """RSS at the end of the warm-up (the first fifth of the run)."""
        warm = [rss for t, rss in self.rss_mib if t >= self.seconds / 5]
        return warm[0] if warm else self.rss_mib[-1][1]

    @property
    def growth_mib(self) -> float:
        """RSS growth from the end of the warm-up to the end of the run."""
        return self.rss_mib[-1][1] - self.warm_rss_mib


async def soak(server: Server, seconds: float, streams: int) -> SoakResult:
    """Run ``streams`` clients streaming back to back for ``seconds``."""
    result = SoakResult(seconds=seconds, streams=streams)
    start = time.monotonic()
    deadline = start + seconds

    async def client_loop() -> None:
        while time.monotonic() < deadline:
            try:
                stream = await read_stream(server.url + "/echo/stream", BODY)
            except (OSError, asyncio.IncompleteReadError, StreamError):
                result.errors += 1
                continue
            result.chunks += stream.chunks
            if stream.completed and stream.chunks == len(BODY["input"]) + 1:
                result.completed += 1
            else:
                result.errors += 1

    async def sample_rss() -> None:
        while time.monotonic() < deadline:
            result.rss_mib.append(
                (time.monotonic() - start, server.rss_bytes() / 2**20)
            )
            await asyncio.sleep(0.25)

    await asyncio.gather(sample_rss(), *(client_loop() for _ in range(streams)))
    result.rss_mib.append((time.monotonic() - start, server.rss_bytes() / 2**20))
    return result


def run(seconds: float, streams: int) -> SoakResult:
    """Start the server, soak it, stop it."""
    with serve(SERVER) as server:
        return asyncio.run(soak(server, seconds, streams))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--max-growth-mib", type=float, default=10)
    args = parser.parse_args()
    result = run(args.seconds, args.streams)
    print(f"{args.streams} concurrent streams for {args.seconds:.0f} s on 127.0.0.1")
    print(f"  completed streams   {result.completed}")
    print(f"  errors              {result.errors}")
    print(
        f"  chunks              {result.chunks} ({result.chunks / args.seconds:.0f}/s)"
    )
    print(
        f"  RSS MiB             start {result.rss_mib[0][1]:.1f}, after warm-up"
        f" {result.warm_rss_mib:.1f}, end {result.rss_mib[-1][1]:.1f}"
        f" (growth {result.growth_mib:+.1f}, bound {args.max_growth_mib})"
    )
    ok = result.errors == 0 and result.growth_mib <= args.max_growth_mib
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
