"""Small placement inputs for tests: a hypothesis strategy and file writers."""

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from service.placements.csv_import import FILES, plain_number
from service.placements.model import GRADE_LEVEL, GRADES, SUPERVISION, Inputs

SPECIALTIES = ("trauma_and_orthopaedics", "ophthalmology")
GROUPS = ("total_knee_replacement", "cataract", "carpal_tunnel_decompression")


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    return plain_number(cell) if isinstance(cell, float) else str(cell)  # 5e-05 is no number in a file


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    lines = [",".join(header)] + [",".join(_text(c) for c in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def files_of(inputs: Inputs) -> dict[str, bytes]:
    """The CSV files holding ``inputs`` (weights back in decimals)."""
    columns = {
        "sites.csv": (inputs.site_code, inputs.site_name, inputs.site_icb, inputs.site_lat, inputs.site_lon),
        "volumes.csv": (
            inputs.vol_site,
            inputs.vol_specialty,
            inputs.vol_group,
            inputs.vol_year,
            inputs.vol_count,
        ),
        "capacity.csv": (
            inputs.cap_site,
            inputs.cap_specialty,
            inputs.cap_slots,
            inputs.cap_supervisors,
            inputs.cap_per_supervisor,
            inputs.cap_min_grade,
            inputs.cap_max_grade,
        ),
        "trainees.csv": (
            inputs.trainee_id,
            inputs.trainee_grade,
            inputs.trainee_specialty,
            inputs.trainee_lat,
            inputs.trainee_lon,
            inputs.trainee_travel,
        ),
        "curriculum.csv": (
            inputs.cur_specialty,
            inputs.cur_group,
            inputs.cur_indicative,
            inputs.cur_min_supervision,
        ),
        "logbook.csv": (
            inputs.log_trainee,
            inputs.log_group,
            ["2026-01-05"] * len(inputs.log_trainee),
            inputs.log_supervision,
            ["RRK"] * len(inputs.log_trainee),
        ),
        "needs.csv": (inputs.need_trainee, inputs.need_group, inputs.need_remaining),
        "preferences.csv": (inputs.pref_trainee, inputs.pref_site, inputs.pref_rank),
        "weights.csv": (inputs.weight_group, [w / 1000 for w in inputs.weight_value]),
        "excluded_sites.csv": (inputs.excluded_site, inputs.excluded_site_reason),
        "excluded_trainee_sites.csv": (
            inputs.excluded_pair_trainee,
            inputs.excluded_pair_site,
            inputs.excluded_pair_reason,
        ),
    }
    return {
        name: csv_bytes([c.name for c in FILES[name]], list(zip(*cols, strict=True)))
        for name, cols in columns.items()
    }


@st.composite
def inputs(draw: st.DrawFn, *, max_trainees: int = 5, max_sites: int = 3, gates: bool = True) -> Inputs:
    """A small random rotation around one town: sites and trainees within ~30 km of each other."""
    n_sites = draw(st.integers(1, max_sites))
    n_trainees = draw(st.integers(1, max_trainees))
    sites = [f"NS{i:03d}" for i in range(n_sites)]
    trainees = [f"{7000000 + 7 * i}" for i in range(n_trainees)]
    specialties = SPECIALTIES[: draw(st.integers(1, 2))]
    coord = st.floats(0, 0.25, allow_nan=False).map(lambda x: round(x, 4))
    grade = st.sampled_from(GRADES)
    site_lat = [51.4 + draw(coord) for _ in sites]
    site_lon = [-0.2 + draw(coord) for _ in sites]
    cap_rows = []
    for site in sites:
        for spec in specialties:
            if draw(st.booleans()) or spec == specialties[0]:
                low, high = sorted([draw(grade), draw(grade)], key=GRADE_LEVEL.__getitem__)
                cap_rows.append(
                    (
                        site,
                        spec,
                        draw(st.integers(0, 3)),
                        draw(st.integers(0, 3)),
                        draw(st.integers(1, 2)),
                        low,
                        high,
                    )
                )
    vol_rows = []
    for site, spec in itertools.product(sites, specialties):
        for group in GROUPS:
            if draw(st.booleans()):
                year = draw(st.sampled_from(("2024-25", "2025-26")))
                vol_rows.append((site, spec, group, year, draw(st.integers(0, 120))))
    if not any(r[3] == "2025-26" for r in vol_rows):
        vol_rows.append((sites[0], specialties[0], GROUPS[0], "2025-26", draw(st.integers(1, 120))))
    cur_rows = [
        (spec, group, draw(st.integers(0, 40)), draw(st.sampled_from(SUPERVISION)))
        for spec in specialties
        for group in GROUPS
        if draw(st.booleans())
    ]
    t_spec = [draw(st.sampled_from(specialties)) for _ in trainees]
    log_rows = [
        (t, draw(st.sampled_from(GROUPS)), draw(st.sampled_from(SUPERVISION)))
        for t in trainees
        for _ in range(draw(st.integers(0, 3)))
    ]
    need_rows = [
        (t, g, draw(st.integers(0, 30))) for t in trainees for g in GROUPS if draw(st.integers(0, 4)) == 0
    ]
    pref_rows = []
    for t in trainees:
        if draw(st.booleans()):
            ranked = draw(st.lists(st.sampled_from(sites), unique=True, max_size=len(sites)))
            ranks = sorted(
                draw(st.lists(st.integers(1, 6), unique=True, min_size=len(ranked), max_size=len(ranked)))
            )
            pref_rows += list(zip([t] * len(ranked), ranked, ranks, strict=True))
    weight_rows = [(g, draw(st.integers(0, 30)) * 100) for g in GROUPS if draw(st.booleans())]
    excluded_sites = [
        (s, "failed the additionality check") for s in sites if gates and draw(st.integers(0, 5)) == 0
    ]
    excluded_pairs = [
        (t, s, "passport does not meet the site's policy")
        for t in trainees
        for s in sites
        if gates and draw(st.integers(0, 8)) == 0
    ]
    return Inputs(
        site_code=sites,
        site_name=[f"Site {s}" for s in sites],
        site_icb=["QMJ"] * n_sites,
        site_lat=site_lat,
        site_lon=site_lon,
        vol_site=[r[0] for r in vol_rows],
        vol_specialty=[r[1] for r in vol_rows],
        vol_group=[r[2] for r in vol_rows],
        vol_year=[r[3] for r in vol_rows],
        vol_count=[r[4] for r in vol_rows],
        cap_site=[r[0] for r in cap_rows],
        cap_specialty=[r[1] for r in cap_rows],
        cap_slots=[r[2] for r in cap_rows],
        cap_supervisors=[r[3] for r in cap_rows],
        cap_per_supervisor=[r[4] for r in cap_rows],
        cap_min_grade=[r[5] for r in cap_rows],
        cap_max_grade=[r[6] for r in cap_rows],
        trainee_id=trainees,
        trainee_grade=[draw(grade) for _ in trainees],
        trainee_specialty=t_spec,
        trainee_lat=[51.4 + draw(coord) for _ in trainees],
        trainee_lon=[-0.2 + draw(coord) for _ in trainees],
        trainee_travel=[float(draw(st.sampled_from((5, 10, 20, 40)))) for _ in trainees],
        cur_specialty=[r[0] for r in cur_rows],
        cur_group=[r[1] for r in cur_rows],
        cur_indicative=[r[2] for r in cur_rows],
        cur_min_supervision=[r[3] for r in cur_rows],
        log_trainee=[r[0] for r in log_rows],
        log_group=[r[1] for r in log_rows],
        log_supervision=[r[2] for r in log_rows],
        need_trainee=[r[0] for r in need_rows],
        need_group=[r[1] for r in need_rows],
        need_remaining=[r[2] for r in need_rows],
        pref_trainee=[r[0] for r in pref_rows],
        pref_site=[r[1] for r in pref_rows],
        pref_rank=[r[2] for r in pref_rows],
        weight_group=[r[0] for r in weight_rows],
        weight_value=[r[1] for r in weight_rows],
        excluded_site=[r[0] for r in excluded_sites],
        excluded_site_reason=[r[1] for r in excluded_sites],
        excluded_pair_trainee=[r[0] for r in excluded_pairs],
        excluded_pair_site=[r[1] for r in excluded_pairs],
        excluded_pair_reason=[r[2] for r in excluded_pairs],
    )


def replace_columns(inputs_: Inputs, **changes: Any) -> Inputs:
    import dataclasses

    return dataclasses.replace(inputs_, **changes)


def relabel(inputs_: Inputs, mapping: Mapping[str, str]) -> Inputs:
    """The same inputs with trainee ids renamed by ``mapping``."""

    def m(ids: list[str]) -> list[str]:
        return [mapping[i] for i in ids]

    return replace_columns(
        inputs_,
        trainee_id=m(inputs_.trainee_id),
        log_trainee=m(inputs_.log_trainee),
        need_trainee=m(inputs_.need_trainee),
        pref_trainee=m(inputs_.pref_trainee),
        excluded_pair_trainee=m(inputs_.excluded_pair_trainee),
    )


def rotation(**changes: Any) -> Inputs:
    """One site (NT301, London) offering trauma and orthopaedics, one ST4 trainee next to it."""
    base = Inputs(
        site_code=["NT301"],
        site_name=["Example Hospital London"],
        site_icb=["QMJ"],
        site_lat=[51.525],
        site_lon=[-0.139],
        vol_site=["NT301"],
        vol_specialty=["trauma_and_orthopaedics"],
        vol_group=["total_knee_replacement"],
        vol_year=["2025-26"],
        vol_count=[100],
        cap_site=["NT301"],
        cap_specialty=["trauma_and_orthopaedics"],
        cap_slots=[1],
        cap_supervisors=[1],
        cap_per_supervisor=[1],
        cap_min_grade=["FY1"],
        cap_max_grade=["ST8"],
        trainee_id=["7100001"],
        trainee_grade=["ST4"],
        trainee_specialty=["trauma_and_orthopaedics"],
        trainee_lat=[51.525],
        trainee_lon=[-0.139],
        trainee_travel=[30.0],
        cur_specialty=["trauma_and_orthopaedics"],
        cur_group=["total_knee_replacement"],
        cur_indicative=[40],
        cur_min_supervision=["S-TS"],
        log_trainee=[],
        log_group=[],
        log_supervision=[],
    )
    return replace_columns(base, **changes)
