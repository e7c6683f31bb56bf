"""The `ccni` command: fetch the source files, run an edition, open the UI.

    ccni fetch [--mirror DIR]        place every source file of the manifest in the lake
    ccni add-revision SOURCE_ID FILE register a revised source file (old versions stay)
    ccni run --edition 2022          materialise all assets of one edition in Dagster
    ccni backfill [--method FILE]    materialise every edition of the method
    ccni compare --edition 2022 --method A --method B
                                     rank shifts between two methods
    ccni trace --edition 2022 --city 深圳 [--indicator ID] [--format text|json|html]
                                     a score as a tree down to its source cells
    ccni verify PATH [--lake DIR]    check exports and sources against manifest.json
    ccni ui [--host H] [--port P]    start the Dagster UI on the project's instance

Every command honours CCNI_DATA_LAKE (the lake folder) and CCNI_SOURCE_MIRROR (a
local folder laid out like the shared real-data folder).
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from ccni_pipeline import lake
from ccni_pipeline.instance import prepare_dagster_home
from ccni_pipeline.lineage.output_manifest import add_verify_parser
from ccni_pipeline.lineage.trace import add_trace_parser
from ccni_pipeline.sources.manifest import load_manifest
from ccni_pipeline.sources.revisions import add_revision_parser

logger = logging.getLogger("ccni")


def command_fetch(arguments: argparse.Namespace) -> int:
    from ccni_pipeline.sources.fetch import fetch_sources

    mirror = Path(arguments.mirror) if arguments.mirror else None
    with lake.write_lock(arguments.wait):
        outcomes = fetch_sources(load_manifest(), mirror=mirror)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.action] = counts.get(outcome.action, 0) + 1
    summary = ", ".join(f"{count} {action}" for action, count in sorted(counts.items()))
    print(f"fetched {len(outcomes)} source files into {lake.raw_dir()}: {summary}")
    return 0


def command_run(arguments: argparse.Namespace) -> int:
    from ccni_pipeline.run import run_edition

    prepare_dagster_home()
    load_manifest()
    with lake.write_lock(arguments.wait):
        summary = run_edition(arguments.edition, method_path=arguments.method)
    print(summary.render())
    return 0 if summary.succeeded else 1


def command_backfill(arguments: argparse.Namespace) -> int:
    from ccni_pipeline.run import backfill

    prepare_dagster_home()
    load_manifest()
    with lake.write_lock(arguments.wait):
        summaries = backfill(method_path=arguments.method)
    for summary in summaries:
        print(summary.render())
    return 0 if all(summary.succeeded for summary in summaries) else 1


def command_compare(arguments: argparse.Namespace) -> int:
    from ccni_pipeline.method.compare import compare_methods

    prepare_dagster_home()
    if len(arguments.method) != 2:
        raise ValueError("give exactly two methods: --method A --method B")
    with lake.write_lock(arguments.wait):
        shifts, target = compare_methods(arguments.edition, *arguments.method)
    moved = shifts[shifts["rank_shift"].fillna(1) != 0]
    print(
        f"edition {arguments.edition}: {len(moved)} of {len(shifts)} ranked cities "
        f"changed rank; all shifts in {target}"
    )
    columns = [
        "city_code",
        "city_name_en",
        "rank_a",
        "rank_b",
        "rank_shift",
        "composite_change",
        "indicators_moved_most",
    ]
    print(shifts[columns].head(arguments.top).to_string(index=False))
    return 0


def command_ui(arguments: argparse.Namespace) -> int:
    home = prepare_dagster_home()
    workspace = lake.PROJECT_ROOT / "workspace.yaml"
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(workspace),
        "-h",
        arguments.host,
        "-p",
        str(arguments.port),
    ]
    print(
        f"Dagster UI on http://{arguments.host}:{arguments.port} (instance {home})",
        flush=True,
    )
    # NOTE: dagster dev reports a port already in use only after this banner, and
    # its daemon keeps running. Stop it with Ctrl-C and pick another --port.
    # Replace this process, so signals (Ctrl-C, kill) reach dagster dev directly.
    os.chdir(lake.PROJECT_ROOT)
    os.execv(sys.executable, command)


def _seconds(text: str) -> float:
    """Parse a non-negative number of seconds for --wait."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds"
        ) from error
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"--wait must be 0 or more seconds, not {text}"
        )
    return value


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=_seconds,
        default=0,
        metavar="SECONDS",
        help="wait this long for another ccni command writing to the lake "
        "(default 0: fail at once)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccni",
        description="Chinese Cities Carbon Peak & Carbon Neutrality Index pipeline.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="place the source files in the lake")
    fetch.add_argument(
        "--mirror",
        help="local folder laid out like the shared real-data folder "
        "(default: CCNI_SOURCE_MIRROR, else download from upstream)",
    )
    _add_wait(fetch)
    fetch.set_defaults(handler=command_fetch)

    add_revision_parser(commands)

    run = commands.add_parser("run", help="materialise every asset of one edition")
    run.add_argument(
        "--edition", type=int, required=True, help="index edition, e.g. 2022"
    )
    run.add_argument(
        "--method", help="method file (YAML); default: the project's method"
    )
    _add_wait(run)
    run.set_defaults(handler=command_run)

    backfill = commands.add_parser(
        "backfill", help="materialise every edition of the method, oldest first"
    )
    backfill.add_argument("--method", help="method file (YAML); default: the project's")
    _add_wait(backfill)
    backfill.set_defaults(handler=command_backfill)

    compare = commands.add_parser(
        "compare", help="rank shifts of one edition between two methods"
    )
    compare.add_argument("--edition", type=int, required=True, help="index edition")
    compare.add_argument(
        "--method",
        action="append",
        default=[],
        help="method file, or 'default'; give it twice (A, then B)",
    )
    compare.add_argument(
        "--top", type=int, default=20, help="rows to print (default 20)"
    )
    _add_wait(compare)
    compare.set_defaults(handler=command_compare)

    ui = commands.add_parser(
        "ui", help="start the Dagster UI on the project's instance"
    )
    ui.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    ui.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    ui.set_defaults(handler=command_ui)
    add_trace_parser(commands)
    add_verify_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments)
    except KeyboardInterrupt:
        print(f"ccni {arguments.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for people; CCNI_TRACEBACK=1 for the trace
        if os.environ.get("CCNI_TRACEBACK"):
            raise
        kind = type(error).__name__
        print(f"ccni {arguments.command}: {kind}: {error}", file=sys.stderr)
        print("  (set CCNI_TRACEBACK=1 to see the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
