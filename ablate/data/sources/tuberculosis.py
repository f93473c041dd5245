"""Tuberculosis sources: DS5 (Shenzhen + Montgomery) and DS6 (TB Portals)."""

from __future__ import annotations

import re
from pathlib import Path

from ablate.data.images import IMAGE_EXTS
from ablate.data.samples import Sample
from ablate.data.sources._layout import need_dir, unique_names, walk_images
from ablate.data.sources._registry import register_source
from ablate.errors import DataError

_DS5 = re.compile(r"^(CHNCXR|MCUCXR)_\d+_([01])\.png$", re.IGNORECASE)


@register_source("ds5", title="Shenzhen + Montgomery TB sets", table1={"tuberculosis": 394})
def read_ds5(path: Path) -> list[Sample]:
    """Shenzhen + Montgomery: ``CHNCXR_*_1.png`` and ``MCUCXR_*_1.png`` are TB (``_0``: unused)."""
    need_dir(path, "ds5")
    files = unique_names([f for f in walk_images(path) if _DS5.match(f.name)])
    if not files:
        raise DataError(
            f"--source ds5={path}: no CHNCXR_*.png or MCUCXR_*.png files found under it; "
            "point it at the Shenzhen/Montgomery folders"
        )
    return [
        Sample(str(f), "tuberculosis", f"ds5-{f.stem}", "DS5")
        for f in files
        if _DS5.match(f.name).group(2) == "1"
    ]


@register_source("ds6", title="TB Portals images", table1={"tuberculosis": 1042})
def read_ds6(path: Path) -> list[Sample]:
    """TB Portals: a folder of tuberculosis images (no patient ids)."""
    need_dir(path, "ds6")
    files = walk_images(path)
    if not files:
        raise DataError(
            f"--source ds6={path}: no images ({', '.join(sorted(IMAGE_EXTS))}) found under it; "
            "point it at the TB Portals image folder"
        )
    return [Sample(str(f), "tuberculosis", "", "DS6") for f in files]
