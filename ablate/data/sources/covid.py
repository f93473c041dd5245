"""COVID-19 sources DS1-DS4: three metadata.csv + images/ repositories, the Radiography Database."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ablate.data.samples import Sample
from ablate.data.sources._layout import find_root, is_image, metadata_folder, read_csv
from ablate.data.sources._registry import natural_key, register_source

_VIEWS = {"PA", "AP", "AP SUPINE", "APS"}


def _is_covid(finding: str) -> bool:
    return "covid-19" in finding.lower()


def _metadata_root(path: Path, key: str, cols: tuple[str, ...]) -> Path:
    return find_root(
        path, key, metadata_folder(cols), f"metadata.csv ({', '.join(cols)}) with an images/ folder"
    )


@register_source("ds1", title="ieee8023/covid-chestxray-dataset", table1={"covid": 478})
def read_ds1(path: Path) -> list[Sample]:
    """ieee8023/covid-chestxray-dataset: X-ray, view PA/AP/AP Supine, finding contains COVID-19."""
    cols = ("patientid", "finding", "view", "modality", "filename")
    root = _metadata_root(path, "ds1", cols)
    return [
        Sample(
            str(root / (r.get("folder") or "images") / r["filename"]),
            "covid",
            f"ds1-{r['patientid']}",
            "DS1",
        )
        for r in read_csv(root / "metadata.csv", cols, "ds1")
        if r["modality"].lower() == "x-ray"
        and r["view"].upper() in _VIEWS
        and _is_covid(r["finding"])
        and r["filename"]
    ]


@register_source("ds2", title="Actualmed-COVID-chestxray-dataset", table1={"covid": 58})
def read_ds2(path: Path) -> list[Sample]:
    """Actualmed COVID-19 chest X-ray dataset: finding contains COVID-19; images/<imagename>."""
    cols = ("patientid", "finding", "imagename")
    root = _metadata_root(path, "ds2", cols)
    return [
        Sample(str(root / "images" / r["imagename"]), "covid", f"ds2-{r['patientid']}", "DS2")
        for r in read_csv(root / "metadata.csv", cols, "ds2")
        if _is_covid(r["finding"]) and r["imagename"]
    ]


@register_source("ds3", title="Figure1-COVID-chestxray-dataset", table1={"covid": 35})
def read_ds3(path: Path) -> list[Sample]:
    """Figure1 COVID-19 chest X-ray dataset: images/<patientid>[a-z].<ext> of COVID-19 patients."""
    cols = ("patientid", "finding")
    found = metadata_folder(cols, forbidden=("filename", "imagename"))
    root = find_root(
        path,
        "ds3",
        found,
        "metadata.csv (patientid, finding; no filename column) with an images/ folder",
    )
    rows = read_csv(root / "metadata.csv", cols, "ds3")
    by_patient: dict[str, list[Path]] = defaultdict(list)
    for f in (root / "images").iterdir():
        if is_image(f):
            stem = f.stem
            by_patient[stem].append(f)
            if len(stem) > 1 and stem[-1] in "abcdefghijklmnopqrstuvwxyz":
                by_patient[stem[:-1]].append(f)
    patients = sorted(
        {r["patientid"] for r in rows if _is_covid(r["finding"]) and r["patientid"]},
        key=natural_key,
    )
    return [
        Sample(str(f), "covid", f"ds3-{p}", "DS3") for p in patients for f in by_patient.get(p, [])
    ]


_DS4_DIRS = {"covid": "covid", "covid-19": "covid", "normal": "normal"}


def _ds4_class_dirs(p: Path) -> list[Path]:
    return [d for d in p.iterdir() if d.is_dir() and d.name.lower() in _DS4_DIRS]


@register_source(
    "ds4", title="COVID-19 Radiography Database", table1={"covid": 1199, "normal": 1341}
)
def read_ds4(path: Path) -> list[Sample]:
    """COVID-19 Radiography Database: COVID/ and Normal/ (images/ inside in newer releases)."""
    root = find_root(path, "ds4", lambda p: bool(_ds4_class_dirs(p)), "a COVID/ or Normal/ folder")
    out = []
    for d in sorted(_ds4_class_dirs(root), key=lambda p: p.name.lower()):
        img_dir = d / "images" if (d / "images").is_dir() else d  # never masks/
        out += [
            Sample(str(f), _DS4_DIRS[d.name.lower()], "", "DS4")
            for f in img_dir.iterdir()
            if f.is_file() and is_image(f)
        ]
    return out
