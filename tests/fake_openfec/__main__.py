"""Run the fake OpenFEC as a process:

    python -m tests.fake_openfec --port 0 --seed 1 --politicians 300 --rows-scale 1.0 \\
        --latency 0.05 --per-row-latency 0.0002 --rate-limit 1000/3600 --rate-model sliding \\
        --keys test-key,DEMO_KEY

It prints one line, `serving <api url> legislators <legislators url>`, then serves
until SIGTERM or SIGINT. Drive it through /_control/* (see control.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .gateway import Faults
from .server import FakeOpenFec
from .world import generate_world


def rate_limit(text: str) -> tuple[int, float]:
    """N/SECONDS, e.g. 1000/3600."""
    try:
        limit, window = text.split("/")
        parsed = int(limit), float(window)
    except ValueError:
        message = f"expected N/SECONDS such as 1000/3600, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise argparse.ArgumentTypeError("the limit and the window must be positive")
    return parsed


def key_list(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def cycle_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        message = f"expected even years such as 2024,2026, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fake_openfec",
                                description="A fake OpenFEC API on loopback.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--politicians", type=int, default=300)
    p.add_argument("--cycles", type=cycle_list, default=(2024, 2026), help="default 2024,2026")
    p.add_argument("--rows-scale", type=float, default=1.0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    p.add_argument("--per-row-latency", type=float, default=0.0,
                   help="seconds added per result row")
    p.add_argument("--schedule-a-latency", type=float, default=0.0,
                   help="seconds added to every Schedule A page")
    p.add_argument("--rate-limit", type=rate_limit, default=None, metavar="N/SECONDS")
    p.add_argument("--rate-model", choices=("rolling", "sliding"), default="rolling",
                   help="an exact rolling window, or api.data.gov's sliding estimate")
    p.add_argument("--no-retry-after", action="store_true", help="send 429s without Retry-After")
    p.add_argument("--keys", type=key_list, default=("test-key",),
                   help="accepted keys, comma-separated")
    p.add_argument("--disabled-keys", type=key_list, default=(),
                   help="keys answered API_KEY_DISABLED")
    p.add_argument("--p-5xx", type=float, default=0.0)
    p.add_argument("--p-reset", type=float, default=0.0)
    p.add_argument("--p-truncated", type=float, default=0.0)
    p.add_argument("--p-html", type=float, default=0.0)
    p.add_argument("--fault-seed", type=int, default=0)
    p.add_argument("--echo-key-in-errors", action="store_true",
                   help="append the caller's key, bare, to every error body")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    world = generate_world(args.seed, politicians=args.politicians, cycles=args.cycles,
                           rows_scale=args.rows_scale)
    faults = Faults(p_5xx=args.p_5xx, p_reset=args.p_reset, p_truncated=args.p_truncated,
                    p_html=args.p_html)
    fake = FakeOpenFec(world, api_keys=args.keys, disabled_keys=args.disabled_keys,
                       rate_limit=args.rate_limit, rate_model=args.rate_model,
                       send_retry_after=not args.no_retry_after, latency=args.latency,
                       per_row_latency=args.per_row_latency,
                       schedule_a_latency=args.schedule_a_latency, faults=faults,
                       seed=args.fault_seed, host=args.host, port=args.port,
                       echo_key_in_errors=args.echo_key_in_errors)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with fake:
        print(f"serving {fake.url} legislators {fake.legislators_url}", flush=True)
        while not stop.wait(0.5):
            pass
    print(f"stopped after {fake.count()} requests", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
