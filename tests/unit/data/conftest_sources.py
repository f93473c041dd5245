"""The seven CXR-5 sources in their native layouts, built in a temp folder from cxr5-real.

Each source gets a handful of real images (symlinked under the names and folders the
source uses) and small hand-written metadata files, with distractors the builder must leave
out (other findings and views, masks, normal TB-set images, __MACOSX junk, a duplicate
unpacked copy, a person in both pneumonia classes). TBX11K images stand in for DS5 and DS6.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SourceTrees:
    """Where each source was unpacked (``unpacked``) and its parent (``parent``, one level above)."""

    unpacked: dict[str, Path]
    parent: dict[str, Path]
    expected: dict[tuple[str, str], int]  # (source, label) -> images the builder must find
    patients: dict[str, set[str]] = field(default_factory=dict)  # source -> patient ids
    virus_of_bacterial_person: str = ""  # a file the builder must leave out


def _rows(real: Path) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    with (real / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["source_dataset"], []).append(row)
    return out


def _put(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dest)
    return dest


def _write_csv(path: Path, header: list[str], rows: list[dict[str, str]], encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})


def make_sources(tmp: Path, real: Path) -> SourceTrees:
    """Build all seven source trees under `tmp`; returns their paths and what a build must find."""
    rows = _rows(real)
    img = lambda r: real / r["path"]
    base = lambda r: Path(r["source_path"]).name
    unpacked: dict[str, Path] = {}
    expected: dict[tuple[str, str], int] = {}
    patients: dict[str, set[str]] = {}

    # DS1 ieee8023: metadata.csv + images/; 6 COVID patients (one with 2 images), 3 distractors
    d = unpacked["ds1"] = tmp / "ds1" / "covid-chestxray-dataset"
    ds1 = rows["DS1"]
    meta = []
    for i, r in enumerate(ds1[:6]):
        pid = r["patient_id"].removeprefix("ds1-")
        _put(img(r), d / "images" / base(r))
        meta.append({"patientid": pid, "finding": ["COVID-19", "Pneumonia/Viral/COVID-19"][i % 2],
                     "view": ["PA", "AP", "AP Supine"][i % 3], "modality": "X-ray", "folder": "images", "filename": base(r)})
    second = _put(img(ds1[6]), d / "images" / "second-image-of-first-patient.png")
    meta.append({**meta[0], "filename": second.name, "view": "PA"})
    _put(img(ds1[7]), d / "images" / "lateral.png")
    _put(img(ds1[8]), d / "images" / "bacterial.png")
    meta += [
        {"patientid": "900", "finding": "COVID-19", "view": "L", "modality": "X-ray", "folder": "images", "filename": "lateral.png"},
        {"patientid": "901", "finding": "COVID-19", "view": "Axial", "modality": "CT", "folder": "volumes", "filename": "ct.nii.gz"},
        {"patientid": "902", "finding": "Pneumonia/Bacterial/Streptococcus", "view": "PA", "modality": "X-ray",
         "folder": "images", "filename": "bacterial.png"},
    ]
    _write_csv(d / "metadata.csv", ["patientid", "offset", "sex", "age", "finding", "survival", "view", "modality",
                                    "date", "location", "folder", "filename", "doi", "url", "license"], meta)
    expected[("DS1", "covid")] = 7
    patients["DS1"] = {f"ds1-{m['patientid']}" for m in meta[:6]}

    # DS2 Actualmed: metadata.csv (imagename) + images/; 4 COVID, 1 "No finding"
    d = unpacked["ds2"] = tmp / "ds2" / "Actualmed-COVID-chestxray-dataset"
    meta = []
    for r in rows["DS2"][:4]:
        _put(img(r), d / "images" / base(r))
        meta.append({"patientid": r["patient_id"].removeprefix("ds2-"), "finding": "COVID-19", "imagename": base(r)})
    _put(img(rows["DS2"][4]), d / "images" / "normal-case.png")
    meta.append({"patientid": "ANON999", "finding": "No finding", "imagename": "normal-case.png"})
    _write_csv(d / "metadata.csv", ["patientid", "offset", "sex", "age", "finding", "survival", "view", "modality",
                                    "date", "location", "imagename", "dcm_name"], meta)
    expected[("DS2", "covid")] = 4
    patients["DS2"] = {f"ds2-{m['patientid']}" for m in meta[:4]}

    # DS3 Figure1: metadata.csv (Latin-1, no file column) + images/<patientid>[a-z].jpg|png
    d = unpacked["ds3"] = tmp / "ds3" / "Figure1-COVID-chestxray-dataset"
    meta = []
    for r in rows["DS3"][:4]:
        _put(img(r), d / "images" / base(r))
        meta.append({"patientid": r["patient_id"].removeprefix("ds3-"), "finding": "COVID-19", "location": "São Paulo"})
    _put(img(rows["DS3"][4]), d / "images" / f"{meta[0]['patientid']}b.jpg")  # second image of a patient
    _put(img(rows["DS3"][5]), d / "images" / "COVID-09999.jpg")
    meta.append({"patientid": "COVID-09999", "finding": "Pneumonia", "location": "Toronto"})
    _write_csv(d / "metadata.csv", ["patientid", "offset", "sex", "age", "finding", "survival", "temperature",
                                    "view", "modality", "date", "location"], meta, encoding="latin-1")
    expected[("DS3", "covid")] = 5
    patients["DS3"] = {f"ds3-{m['patientid']}" for m in meta[:4]}

    # DS4 Radiography Database (newer release: <class>/images + <class>/masks), inside the Kaggle folder
    d = unpacked["ds4"] = tmp / "ds4" / "COVID-19_Radiography_Dataset"
    covid4 = [r for r in rows["DS4"] if r["label"] == "covid"][:10]
    normal4 = [r for r in rows["DS4"] if r["label"] == "normal"]
    for r in covid4:
        _put(img(r), d / "COVID" / "images" / base(r))
    _put(img(rows["TBX11K"][0]), d / "COVID" / "masks" / base(covid4[0]))
    for r in normal4[:12]:
        _put(img(r), d / "Normal" / "images" / base(r))
    _put(img(normal4[12]), d / "Lung_Opacity" / "images" / "Lung_Opacity-1.png")
    expected[("DS4", "covid")], expected[("DS4", "normal")] = 10, 12

    # DS5 Shenzhen + Montgomery (TBX11K stand-ins): _1 = TB, _0 = normal (left out)
    d = unpacked["ds5"] = tmp / "ds5" / "TB-sets"
    tb = rows["TBX11K"]
    for k, r in enumerate(tb[1:4], start=1):
        _put(img(r), d / "MontgomerySet" / "CXR_png" / f"MCUCXR_{k:04d}_1.png")
    for k, r in enumerate(tb[4:7], start=1):
        _put(img(r), d / "ChinaSet_AllFiles" / "CXR_png" / f"CHNCXR_{k:04d}_1.png")
    for k, r in enumerate(normal4[13:15], start=100):
        _put(img(r), d / "ChinaSet_AllFiles" / "CXR_png" / f"CHNCXR_{k:04d}_0.png")
    expected[("DS5", "tuberculosis")] = 6

    # DS6 TB Portals: a folder of TB images
    d = unpacked["ds6"] = tmp / "ds6" / "TB_Portals"
    for k, r in enumerate(tb[7:15]):
        _put(img(r), d / ("case-a" if k % 2 else "case-b") / base(r))
    expected[("DS6", "tuberculosis")] = 8

    # DS7 Kermany: chest_xray/{train,test}/PNEUMONIA/person<N>_{bacteria,virus}_<M>.jpeg
    d = unpacked["ds7"] = tmp / "ds7" / "chest_xray"
    bact = [r for r in rows["DS7"] if r["label"] == "bacterial_pneumonia"]
    twice = sorted({r["patient_id"] for r in bact if sum(x["patient_id"] == r["patient_id"] for x in bact) == 2})[:6]
    bact = [r for r in bact if r["patient_id"] in twice]
    viral = [r for r in rows["DS7"] if r["label"] == "viral_pneumonia"][:10]
    for k, r in enumerate(bact + viral):
        _put(img(r), d / ("train" if k % 2 else "test") / "PNEUMONIA" / base(r))
    for r in bact[:3]:  # the same files unpacked twice (the Kaggle zip's chest_xray/chest_xray)
        _put(img(r), d / "chest_xray" / "train" / "PNEUMONIA" / base(r))
    person = bact[0]["patient_id"].removeprefix("ds7-")
    extra = _put(img(viral[0]), d / "val" / "PNEUMONIA" / f"{person}_virus_99999.jpeg")
    _put(img(normal4[15]), d / "train" / "NORMAL" / "IM-0001-0001.jpeg")
    junk = d.parent / "__MACOSX" / "chest_xray" / "test" / "PNEUMONIA" / f"._{base(viral[1])}"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"\x00\x05\x16\x07 not an image")
    expected[("DS7", "bacterial_pneumonia")], expected[("DS7", "viral_pneumonia")] = 12, 10
    patients["DS7"] = {r["patient_id"] for r in bact + viral}

    parent = {k: v.parent for k, v in unpacked.items()}
    return SourceTrees(unpacked, parent, expected, patients, str(extra))
