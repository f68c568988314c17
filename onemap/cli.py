"""The ``onemap`` command line (typer).

Exit codes: 0 success, 1 bad input (an :class:`~onemap.errors.OnemapError`: the message names the
file, the place and the fix), 2 wrong usage (typer's own), 3 an internal error (a bug: please
report it with the traceback printed by ``--debug``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

from .errors import OnemapError

if TYPE_CHECKING:
    import pandas as pd


class _Command(TyperCommand):
    """Usage lines in the usual notation (``CONFIG``, ``[OUT]``, ``SRC...``); typer writes
    required arguments as ``{config}``, which reads like a template placeholder."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                pieces.extend(param.get_usage_pieces(ctx))
                continue
            name = param.metavar or str(param.name).upper()
            if param.nargs != 1 and not name.endswith("..."):
                name += "..."
            pieces.append(name if param.required else f"[{name}]")
        return pieces

    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


class _Group(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _as_flag(super().get_help_option(ctx))


def _as_flag(option: Any) -> Any:
    """--help shown as the flag it is (typer's help lists a ``<bool>`` value beside it)."""
    if option is not None:
        option.metavar = ""
    return option


app = typer.Typer(
    cls=_Group,
    name="onemap",
    help="China land-and-resources 'one map' supervision: change detection and "
         "unapproved-construction flags.",
    no_args_is_help=True,
    add_completion=False,
)
_state = {"debug": False}


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar="",
                                 help="Log progress messages."),
    debug: bool = typer.Option(False, "--debug", metavar="", help="Show tracebacks of errors."),
) -> None:
    # -v shows onemap's progress only: libraries' INFO lines (pyogrio "Created N records") are
    # not for the user
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.getLogger("onemap").setLevel(logging.INFO if verbose else logging.WARNING)
    _state["debug"] = debug


def _fail(exc: BaseException, who: str = "cli") -> None:
    if _state["debug"]:
        raise exc
    if isinstance(exc, OnemapError):
        exc.speak(who)  # the fix in the words of the command (options) or of the survey TOML
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.secho(f"internal error: {type(exc).__name__}: {exc} "
                "(rerun with --debug for the traceback)", fg=typer.colors.RED, err=True)
    raise typer.Exit(3)


@app.command(cls=_Command)
def demo(
    out: Path = typer.Argument(Path("demo_out"), metavar="OUT",
                               help="Folder for the sample county and the survey outputs."),
    size: int = typer.Option(1024, metavar="PIXELS",
                             help="Side of the sample county in pixels (2 m each)."),
    seed: int = typer.Option(0, metavar="INT", help="Random seed of the sample county."),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bars."),
) -> None:
    """Write the synthetic sample county and run the whole survey on it."""
    try:
        from .demo import run_demo

        result = run_demo(out, size=size, seed=seed, progress=not quiet)
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        _fail(exc)
        return
    _print_result(result)


@app.command(cls=_Command)
def survey(
    config: Path = typer.Argument(..., metavar="CONFIG", help="Survey TOML file."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", metavar="ADDRESS",
        help="dask.distributed scheduler address (default: local threads)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bars."),
) -> None:
    """Run the annual change survey described by CONFIG (resumable: rerun to continue)."""
    client = None
    try:
        from .survey import connect, run_survey

        client = connect(scheduler, "--scheduler") if scheduler else None
        result = run_survey(config, client=client, progress=not quiet)
    except Exception as exc:  # noqa: BLE001
        _fail(exc, "toml")
        return
    finally:
        if client is not None:
            client.close()
    _print_result(result)


@app.command(cls=_Command)
def train(
    config: Path = typer.Argument(
        ...,
        metavar="CONFIG",
        # brackets escaped: typer's rich help reads [train] and [[pair]] as markup and drops them
        help=r"Training TOML file (\[train] out = ..., \[\[pair]] before/after/truth).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", metavar="", help="No progress bar."),
) -> None:
    """Train a change model from labelled pairs and print its out-of-fold validation."""
    try:
        from tqdm import tqdm

        from .change.train_config import train_from_config, validation_table

        with tqdm(total=1.0, disable=quiet, unit="", bar_format="{l_bar}{bar}| {elapsed}") as bar:
            def progress(step: str, done: int, total: int) -> None:
                bar.set_description(step)
                bar.n = min(1.0, done / max(total, 1)) if step != "done" else 1.0
                bar.refresh()

            model, path = train_from_config(config, progress=progress)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    typer.echo(validation_table(model))
    typer.echo(f"model: {path}")


@app.command(cls=_Command)
def info(path: Path = typer.Argument(
        ..., metavar="PATH", help="A raster, vector layer or land-boundary TXT file.")) -> None:
    """Say what a file is: CRS, zone, bands or fields, encoding, feature count."""
    try:
        description = describe(path)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    typer.echo(json.dumps(description, ensure_ascii=False, indent=2, default=str))


@app.command(cls=_Command)
def txt2gpkg(
    src: list[Path] = typer.Argument(..., metavar="SRC...",
                                     help="Land-boundary TXT files (or folders of them)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="PATH", help="GeoPackage to write."),
    encoding: str | None = typer.Option(None, metavar="CODEC",
                                        help="Text encoding (default: detect)."),
) -> None:
    """Convert land-boundary TXT files (界址点坐标交换格式) to one GeoPackage layer."""
    try:
        from .ingest.sources import read_boundary_files
        from .ingest.vector import write_layer

        layer = read_boundary_files(src, encoding=encoding)
        write_layer(layer, out, layer="parcels")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    typer.echo(f"wrote {len(layer)} parcel(s) to {out}")


@app.command(cls=_Command)
def gpkg2txt(
    src: Path = typer.Argument(..., metavar="SRC",
                               help="Polygon layer (GeoPackage, shapefile, GeoJSON)."),
    out: Path = typer.Option(..., "--out", "-o", metavar="PATH", help="TXT file to write."),
    layer: str | None = typer.Option(None, metavar="NAME", help="Layer name inside SRC."),
    encoding: str = typer.Option("gbk", metavar="CODEC", help="Output encoding."),
    area_unit: str = typer.Option("ha", metavar="UNIT",
                                  help="Unit of the declared area: ha or m2."),
    to_crs: str | None = typer.Option(
        None, "--to-crs", metavar="CRS",
        help="Reproject to this Gauss-Kruger CRS first (e.g. EPSG:4527)."),
) -> None:
    """Write a polygon layer as a land-boundary TXT file (Gauss-Kruger CRS required)."""
    try:
        from .ingest.boundary_txt import write_boundary_txt
        from .ingest.vector import read_layer

        gdf = read_layer(src, layer=layer)
        write_boundary_txt(gdf, out, encoding=encoding, area_unit=area_unit, crs=to_crs)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
        return
    typer.echo(f"wrote {len(gdf)} parcel(s) to {out}")


def describe(path: Path) -> dict:
    """What :command:`onemap info` prints, as a dict."""
    from .errors import FormatError

    path = Path(path)
    if not path.exists():
        raise FormatError("file not found", path=path, hint="check the path")
    if path.suffix.lower() == ".txt":
        from .ingest.boundary_txt import read_boundary_txt

        gdf = read_boundary_txt(path)
        return {"path": str(path), "format": "land-boundary TXT",
                "encoding": gdf.attrs.get("encoding"),
                "crs": gdf.crs.to_string() if gdf.crs else None, "parcels": len(gdf),
                "header": gdf.attrs.get("header"), "plane_area_m2": float(gdf["plane_area"].sum())}
    import rasterio

    from .crs import zone_info

    try:
        with rasterio.open(path) as src:
            zi = zone_info(src.crs) if src.crs else None
            return {"path": str(path), "format": f"raster ({src.driver})",
                    "crs": src.crs.to_string() if src.crs else None,
                    "zone": zi.__dict__ if zi else None, "shape": [src.height, src.width],
                    "bands": src.count, "dtypes": sorted(set(src.dtypes)), "nodata": src.nodata,
                    "res": list(src.res), "bounds": list(src.bounds),
                    "block_shapes": [list(b) for b in src.block_shapes[:1]],
                    "compression": str(src.compression.value) if src.compression else None,
                    **_scene_date(path)}  # after what the file is, as for vectors and TXT
    except rasterio.errors.RasterioIOError:
        pass
    from .ingest.vector import layer_info

    return layer_info(path)


def _scene_date(path: Path) -> dict:
    """The acquisition date of a raster and where it came from (empty when it cannot be opened)."""
    from .ingest.raster import open_scene

    try:
        a = open_scene(path).attrs
    except OnemapError:
        return {}
    return {"date": a.get("date"), "date_source": a.get("date_source"),
            "date_guessed": a.get("date_guessed")}


_COUNTY_COLUMNS = ("admin_code", "admin_name", "n_patches", "n_flagged", "new_m2",
                   "unapproved_m2", "unapproved_cultivated_m2", "illegal_ratio",
                   "exceeds_threshold")


def county_table(summary: pd.DataFrame, lang: str = "zh") -> str:
    """The county table as printed: the campaign's headers with units, as in ``summary.csv``.

    >>> import pandas as pd
    >>> s = pd.DataFrame({"admin_code": ["050801001", "total"], "n_patches": [3, 3],
    ...                   "illegal_ratio": [0.2025, float("nan")],
    ...                   "exceeds_threshold": [True, False]})
    >>> print(county_table(s))
    行政区代码  图斑数（个） 违法占用耕地比例（%） 超过阈值（是/否）
     050801001             3                 20.25                是
          合计             3                                      否
    """
    import pandas as pd

    from . import labels

    shown = {}
    for col in (c for c in _COUNTY_COLUMNS if c in summary.columns):
        values = summary[col]
        if col == "admin_code":
            values = values.replace("total", labels.text("total", lang))
        elif col.endswith("_m2"):
            values = values.round(1)
        elif col == "illegal_ratio":  # a percentage, as the header says
            values = (values * 100).round(2).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        elif col == "exceeds_threshold":
            words = {True: labels.text("yes", lang), False: labels.text("no", lang)}
            values = values.astype(bool).map(words)
        shown[labels.header(col, lang)] = values
    with pd.option_context("display.unicode.east_asian_width", True):  # CJK takes two columns
        return pd.DataFrame(shown).to_string(index=False)


def _print_result(result) -> None:
    typer.echo(f"outputs: {result.output}")
    lang = result.manifest.get("config", {}).get("report_lang", "zh")  # [report] lang
    typer.echo(county_table(result.summary, lang))
    ev = result.manifest.get("evaluation")
    if ev:  # the demo knows the planted truth
        typer.echo(f"against the planted truth: precision {ev['precision']:.2f}, "
                   f"recall {ev['recall']:.2f}, F1 {ev['f1']:.2f}, "
                   f"unapproved-area error {ev['area_error']:.1%}")
    typer.echo(f"report: {result.output / 'report.html'}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
