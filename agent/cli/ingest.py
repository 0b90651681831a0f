"""``flowsleuth ingest openlineage|otlp|dbt|catalog PATH...``"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from agent.cli.context import console, fail, print_json, state
from tools.ingest.files import (
    expand_paths,
    ingest_openlineage_files,
    ingest_otlp_files,
    total_bytes,
)
from tools.ingest.result import IngestResult, InputError

app = typer.Typer(
    help="Load telemetry from files: OpenLineage, OTLP/JSON, dbt artifacts, catalog.",
    no_args_is_help=True,
)

Paths = Annotated[list[Path], typer.Argument(help="Files or folders (read recursively)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON")]
# Below this many bytes a progress bar only flickers.
PROGRESS_MIN_BYTES = 2 << 20


def _run(
    files: list[Path], work: Callable[[Callable[[int], None] | None], IngestResult], as_json: bool
) -> IngestResult:
    size = total_bytes(files)
    if as_json or size < PROGRESS_MIN_BYTES:
        result = work(None)
    else:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"ingesting {len(files)} file(s)", total=size)
            result = work(lambda n: bar.advance(task, n))
    _summary(result, as_json)
    return result


def _summary(result: IngestResult, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    console.print(
        f"[green]accepted[/] {result.accepted}   [yellow]duplicates[/] "
        f"{result.duplicates}   [red]rejected[/] {len(result.rejected)}"
    )
    if result.rejected:
        # Many files fail for one reason (a folder of facet examples, say): group them.
        groups: dict[str, list[str]] = {}
        for r in result.rejected:
            groups.setdefault(r.reason, []).append(r.origin or "")
        table = Table("count", "reason", "first origin", title="rejected (kept in dead letters)")
        for reason, origins in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:20]:
            table.add_row(str(len(origins)), reason, origins[0])
        console.print(table)
        console.print(
            "inspect with: flowsleuth deadletters; retry with: flowsleuth deadletters --replay"
        )


def _files(paths: list[Path], suffixes: tuple[str, ...] | None = None) -> list[Path]:
    try:
        return expand_paths(paths, suffixes) if suffixes else expand_paths(paths)
    except InputError as exc:
        fail(str(exc))
        raise


@app.command("openlineage")
def openlineage_cmd(ctx: typer.Context, paths: Paths, as_json: JsonOpt = False) -> None:
    """OpenLineage events: a JSON object, an array, or JSON lines per file."""
    st = state(ctx)
    files = _files(paths)
    _run(files, lambda cb: ingest_openlineage_files(st.store, files, cb, st.now_us), as_json)


@app.command("otlp")
def otlp_cmd(ctx: typer.Context, paths: Paths, as_json: JsonOpt = False) -> None:
    """OTLP/JSON files (metrics, logs or traces; one request per file or per line)."""
    st = state(ctx)
    files = _files(paths)
    _run(
        files,
        lambda cb: ingest_otlp_files(st.store, files, on_progress=cb, now_us=st.now_us),
        as_json,
    )


@app.command("dbt")
def dbt_cmd(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="manifest.json, or the dbt target/ folder")],
    run_results: Annotated[Path | None, typer.Argument(help="run_results.json")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="Dataset namespace, e.g. snowflake://account (default from the adapter type)"
        ),
    ] = None,
    job_namespace: Annotated[str, typer.Option(help="Namespace of the dbt jobs")] = "dbt",
    as_json: JsonOpt = False,
) -> None:
    """dbt manifest.json (+ run_results.json): models, sources, lineage, runs and tests."""
    from tools.ingest.dbt import ingest_dbt

    st = state(ctx)
    if manifest.is_dir():
        folder = manifest
        manifest = folder / "manifest.json"
        if run_results is None and (folder / "run_results.json").is_file():
            run_results = folder / "run_results.json"
    for p in (manifest, run_results):
        if p is not None and not p.is_file():
            fail(f"no such file: {p}")
    try:
        result = ingest_dbt(
            st.store,
            manifest,
            run_results,
            namespace=namespace,
            job_namespace=job_namespace,
            now_us=st.now_us,
            origin=str(manifest),
        )
    except InputError as exc:
        fail(f"{manifest}: {exc}")
        raise
    _summary(result, as_json)


@app.command("catalog")
def catalog_cmd(ctx: typer.Context, paths: Paths, as_json: JsonOpt = False) -> None:
    """The catalog YAML: kind, tier, owner, revenue per day and SLOs of assets."""
    from tools.ingest.catalog import ingest_catalog

    st = state(ctx)
    result = IngestResult()
    for f in _files(paths, (".yaml", ".yml")):
        try:
            result.merge(ingest_catalog(st.store, f, origin=str(f), now_us=st.now_us))
        except InputError as exc:
            fail(f"{f}: {exc}")
    _summary(result, as_json)
