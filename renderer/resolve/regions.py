"""Where the deployment runs: the compute region(s) of hardware.region and the routing region of
serving.routing_region, read against catalog/regions.yaml (which says where each name and
multiplier comes from). The estimate's prices and rules SS242-SS243 read these."""

from __future__ import annotations

from renderer import catalog


def compute_regions(spec: dict) -> tuple[str, ...]:
    """hardware.region as a tuple (empty: Modal places the containers anywhere)."""
    region = spec["hardware"].get("region")
    if not region:
        return ()
    return (region,) if isinstance(region, str) else tuple(region)


def is_broad(region: str) -> bool:
    return region in catalog.regions()["compute"]["broad"]


def known(region: str) -> bool:
    compute = catalog.regions()["compute"]
    return region in compute["broad"] or region in compute["narrow"]


def multiplier(spec: dict) -> float:
    """Modal's price multiplier for pinned compute regions: 1 unpinned, else broad or narrow;
    with several regions the smallest applies."""
    regions = compute_regions(spec)
    if not regions:
        return 1.0
    rates = catalog.regions()["multiplier"]
    return min(rates["broad"] if is_broad(r) else rates["narrow"] for r in regions)


def area(region: str) -> str | None:
    """americas, emea or apac, by the first part of a compute region's name; None if unknown."""
    first = region.split("-", 1)[0]
    first = first.rstrip("0123456789")  # provider spellings such as "europe-west4", "asia1"
    return next((name for name, prefixes in catalog.regions()["areas"].items()
                 if first in prefixes), None)


def routing_area(routing_region: str) -> str | None:
    return catalog.regions()["routing"].get(routing_region)
