"""`qp sim`: run the local exchange simulator (WebSocket + REST) until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from quant_platform.config.settings import Settings, validate_symbol

log = logging.getLogger(__name__)


def _symbols(text: str) -> list[str]:
    try:
        return [validate_symbol(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ratio(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a ratio in [0, 1]")
    return v


def _build(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    from quant_platform.simulator.faults import FaultConfig
    from quant_platform.simulator.replay import ReplaySource, read_csv
    from quant_platform.simulator.server import ExchangeSimulator

    faults = FaultConfig(
        drop_every_s=args.drop_every_s,
        drop_after_n=args.drop_after_n,
        stall_s=args.stall_s,
        stall_every_s=args.stall_every_s,
        silent_streams=frozenset(
            s.strip().lower() for s in args.silent_streams.split(",") if s.strip()
        ),
        malformed_ratio=args.malformed_ratio,
        duplicate_ratio=args.duplicate_ratio,
        out_of_order_ratio=args.out_of_order_ratio,
    )
    host = args.host or settings.bind_host
    port = settings.sim_port if args.port is None else args.port
    if args.mode == "replay":
        if not args.replay_file:
            raise SystemExit("qp sim --mode replay needs --replay-file (repeatable)")
        files = [read_csv(p, args.replay_symbol) for p in args.replay_file]
        source = ReplaySource(files, speed=args.speed)
        symbols = sorted({f.symbol for f in files})
        log.info("replaying %d trades from %d file(s) at %gx", len(source), len(files), args.speed)
        return ExchangeSimulator(
            symbols,
            host=host,
            port=port,
            seed=args.seed,
            faults=faults,
            source=source,
            start_when_subscribed=True,
        )
    symbols = args.symbols or list(settings.symbols)
    return ExchangeSimulator(
        symbols,
        host=host,
        port=port,
        rate=args.rate,
        seed=args.seed,
        total_trades=args.total,
        faults=faults,
        start_when_subscribed=not args.start_now,
        history_s=(settings.sim_history_hours if args.history_hours is None else args.history_hours)
        * 3600,
        history_rate=args.history_rate or settings.sim_history_rate,
        weight_limit_per_min=args.weight_limit,
        clock_offset_ms=args.clock_offset_ms,
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    sim = _build(args, settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await sim.start()
        log.info(
            "simulator ready: ws %s  rest %s  (e.g. %s/public/stream?streams=btcusdt@trade)",
            sim.url,
            sim.rest_url,
            sim.url,
        )
        try:
            await stop.wait()
        finally:
            await sim.stop()
            log.info(
                "simulator stopped: %d trades generated, %d frames sent",
                sim.generated,
                sim.sent_count,
            )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run the local Binance USD-M exchange simulator")
    p.add_argument("--host", default=None, help="bind address (default QP_BIND_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default QP_SIM_PORT; 0 = any)")
    p.add_argument(
        "--symbols", type=_symbols, default=None, help="comma-separated (default QP_SYMBOLS)"
    )
    p.add_argument("--rate", type=float, default=20.0, help="trades per second across symbols")
    p.add_argument(
        "--mode",
        choices=["synthetic", "replay"],
        default="synthetic",
        help="synthetic: generated market (default); replay: recorded venue files (--replay-file)",
    )
    p.add_argument(
        "--replay-file",
        action="append",
        default=[],
        help="Binance trades/aggTrades CSV (repeatable); symbol from the file name",
    )
    p.add_argument("--replay-symbol", default=None, help="symbol when the file name does not say")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed multiplier")
    p.add_argument(
        "--drop-every-s", type=float, default=None, help="drop each connection after S s"
    )
    p.add_argument(
        "--drop-after-n", type=int, default=None, help="drop each connection after N frames"
    )
    p.add_argument("--stall-s", type=float, default=0.0, help="stall each connection for S s ...")
    p.add_argument(
        "--stall-every-s", type=float, default=10.0, help="... after every S s of sending"
    )
    p.add_argument(
        "--silent-streams", default="", help="streams acked but never fed, e.g. btcusdt@trade"
    )
    p.add_argument(
        "--malformed-ratio",
        type=_ratio,
        default=0.0,
        help="share of frames followed by an extra malformed frame, 0..1 (default 0)",
    )
    p.add_argument(
        "--duplicate-ratio",
        type=_ratio,
        default=0.0,
        help="share of frames sent twice, 0..1 (default 0)",
    )
    p.add_argument(
        "--out-of-order-ratio",
        type=_ratio,
        default=0.0,
        help="share of frames held back behind the next one, 0..1 (default 0)",
    )
    p.add_argument(
        "--seed", type=int, default=7, help="random seed: the same seed gives the same market"
    )
    p.add_argument("--total", type=int, default=None, help="stop emitting after N trades")
    p.add_argument(
        "--history-hours",
        type=float,
        default=None,
        help="hours of past trades served over REST at start (default QP_SIM_HISTORY_HOURS)",
    )
    p.add_argument(
        "--history-rate",
        type=float,
        default=None,
        help="trades per second in that history (default QP_SIM_HISTORY_RATE)",
    )
    p.add_argument(
        "--weight-limit",
        type=int,
        default=2400,
        help="REST request weight allowed per minute (the venue's is 2400)",
    )
    p.add_argument(
        "--start-now",
        action="store_true",
        help="generate from start-up instead of from the first subscription",
    )
    p.add_argument(
        "--clock-offset-ms",
        type=int,
        default=0,
        help="run the venue clock this far ahead of the host (negative: behind); skew tests",
    )
    p.set_defaults(func=_run)
