"""The ``llm-observatory`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._config import Options
from .version import __version__


def _options(_: argparse.Namespace) -> int:
    """Print every ``init()`` option with its environment variables and resolved value."""
    resolved = Options.resolve()
    for name, env, default, doc in Options.describe():
        print(f"{name:<20} = {getattr(resolved, name)!r:<24} env: {', '.join(env)}  (default {default!r})")
        print(f"{'':<20}   {doc}")
    return 0


def _collector(args: argparse.Namespace) -> int:
    """Run the reference collector until interrupted."""
    import logging
    import signal
    import threading

    from .collector import Collector, CollectorConfig

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = CollectorConfig()
    for name in ("host", "db_path", "postgres_dsn", "token", "spool_dir"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if args.port is not None:
        config.http_port = args.port
    if args.grpc_port is not None:
        config.grpc_port = args.grpc_port
    try:
        collector = Collector(config).start()
    except ImportError as exc:
        print(f"llm-observatory collector: {exc}. Install it with: pip install 'llm-observatory[collector]'",
              file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"llm-observatory collector: cannot start: {exc}", file=sys.stderr)
        return 1
    print(collector.describe(), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("LLM Observatory collector: stopping; storing what was accepted", flush=True)
    collector.stop()
    return 0


def _table(names: list[str], rows: list[tuple[object, ...]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.6f}" if abs(value) < 1 else f"{value:,.1f}"
        return str(value)
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
              for r in cells]
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    """Print the cost and latency tables from the store."""
    from .collector import open_store
    from .collector._seed import COST_BY_SERVICE_AND_MODEL, LATENCY_BY_MODEL

    try:
        store = open_store(db_path=args.db_path, postgres_dsn=args.postgres_dsn)
    except ImportError as exc:
        print(f"llm-observatory report: {exc}. Install it with: pip install 'llm-observatory[collector]'",
              file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"llm-observatory report: cannot open the store: {exc}", file=sys.stderr)
        return 1
    try:
        print("Cost by service and model, last 24 hours\n")
        print(_table(*store.query(COST_BY_SERVICE_AND_MODEL)))
        print("\nLatency by model, last 7 days\n")
        print(_table(*store.query(LATENCY_BY_MODEL)))
    finally:
        store.close()
    return 0


def _stack_init(args: argparse.Namespace) -> int:
    """Write the bundled stack (Docker Compose, OTel Collector, Prometheus, Grafana) into a directory."""
    from importlib import resources
    from pathlib import Path

    target = Path(args.directory)
    source = resources.files("llm_observatory") / "stack"
    files: list[tuple[str, bytes]] = []

    def collect(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            name = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    collect(child, f"{name}/")
            elif not child.name.endswith((".py", ".pyc")):
                files.append((".env.example" if name == "env.example" else name, child.read_bytes()))
    collect(source, "")
    existing = [name for name, _ in files if (target / name).exists()]
    if existing and not args.force:
        print(f"llm-observatory stack init: {target} already has {', '.join(sorted(existing))}; "
              "use --force to overwrite", file=sys.stderr)
        return 1
    for name, data in files:
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"Wrote the LLM Observatory stack to {target} ({len(files)} files). Next:\n"
          f"  cd {target} && cp .env.example .env   # change every password and the token\n"
          "  docker compose up -d")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-observatory", description=__doc__)
    parser.add_argument("--version", action="version", version=f"llm-observatory {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("options", help="show every init() option, its env vars and its current value").set_defaults(
        func=_options
    )
    collector = sub.add_parser("collector", help="run the reference collector (OTLP in, DuckDB or PostgreSQL out)")
    collector.add_argument("--db", dest="db_path", help="DuckDB file (default llm-observatory.duckdb)")
    collector.add_argument("--postgres-dsn", help="store in PostgreSQL instead, e.g. postgresql://user@host/db")
    collector.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    collector.add_argument("--port", type=int, help="OTLP/HTTP and query API port (default 4318)")
    collector.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default 4317; -1: none)")
    collector.add_argument("--token", help="require Authorization: Bearer <token>")
    collector.add_argument("--spool-dir", help="where accepted requests wait until stored")
    collector.set_defaults(func=_collector)
    report = sub.add_parser("report", help="print the cost and latency tables from the store")
    report.add_argument("--db", dest="db_path", default="llm-observatory.duckdb", help="DuckDB file")
    report.add_argument("--postgres-dsn", help="read from PostgreSQL instead")
    report.set_defaults(func=_report)
    stack = sub.add_parser("stack", help="the bundled Docker Compose stack")
    stack_sub = stack.add_subparsers(dest="stack_command", required=True)
    init = stack_sub.add_parser("init", help="write the stack's files into DIR")
    init.add_argument("directory", metavar="DIR")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_stack_init)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
