"""A grid named the way the command line and the server take it (``--grid``)."""

from __future__ import annotations

from pathlib import Path

from grid_model.region import Region


def load_grid(spec: str, scale: float = 1.0) -> Region:
    """``default`` (the embedded region, shrunk by ``scale``), ``simbench:CODE``,
    ``history:FILE.csv`` (the grid built around an outage history, PG&E's columns), a GeoPackage
    or a folder of GeoJSON layers (docs/grid-layers.md), or a pandapower JSON file."""
    if spec == "default":
        from grid_model.generate import RegionParams
        from grid_model.region import load_region

        return load_region(RegionParams(scale=scale))
    if spec.startswith("history:"):
        from grid_model.history import read_history
        from grid_model.history_grid import build_history_grid

        grid, _ = build_history_grid(read_history(Path(spec.split(":", 1)[1])), n_crews=300)
        return grid.region
    if spec.startswith("simbench:"):
        from grid_model.pandapower_import import simbench_region

        return simbench_region(spec.split(":", 1)[1])
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"--grid {spec!r}: not 'default', 'simbench:CODE' or an existing file")
    if path.is_dir() or path.suffix.lower() == ".gpkg":
        from grid_model.geo_import import region_from_layers

        return region_from_layers(path)
    import pandapower as pp

    from grid_model.pandapower_import import region_from_pandapower

    return region_from_pandapower(pp.from_json(str(path)), name=path.stem)
