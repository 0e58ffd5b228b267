"""A folder of canonical CSV files for the benchmark tests."""

from pathlib import Path

import pytest

FILES = {
    "organisations.csv": """code,name,kind,parent_code,icb_code,postcode,latitude,longitude
Y56,London,region,,,,,
QMJ,NHS North Central London ICB,icb,Y56,,,,
RAP,North Middlesex University Hospital NHS Trust,nhs_trust,QMJ,,N18 1QX,51.613,-0.072
NT3,Example Healthcare,independent_provider,,,,,
NT301,Example Hospital London,independent_site,NT3,QMJ,NW1 2BU,51.525,-0.139
NT302,Example Clinic Camden,independent_site,NT3,QMJ,,,
""",
    "placements.csv": "person_id,site_code,specialty,grade,staff_group,route,start_date,end_date\n"
    + "".join(
        f"{7000001 + n},NT301,trauma and orthopaedics,ST4,medical,doctors_in_training,2025-08-06,2026-02-03\n"
        for n in range(6)
    )
    + "7000100,NT302,ophthalmology,CT2,medical,doctors_in_training,2024-08-07,2025-08-05\n",
    "logbook.csv": "trainee_id,procedure_group,date,supervision,site_code\n"
    + "".join(f"{7000001 + n},total knee replacement,2025-09-{1 + n:02d},P,NT301\n" for n in range(6))
    + "7000100,cataract,2025-05-01,P,NT302\n"
    + "7000100,cataract,2024-05-01,S-TS,RAP\n",
    "volumes.csv": """site_code,specialty,procedure_group,financial_year,nhs_funded_count
NT301,trauma and orthopaedics,total knee replacement,2025-26,400
NT302,ophthalmology,cataract,2025-26,1200
NT302,ophthalmology,cataract,2024,1100
""",
    "people.csv": """given_name,family_name,gmc_number,staff_group,grade,specialty
Ada,Okafor,7000100,medical,CT3,ophthalmology
Ben,Smith,,nursing,other,
""",
    "learners.csv": "provider_code,site_code,financial_year,staff_group,route,learners,placements,"
    """placement_weeks
NT3,NT301,2025-26,nursing,student_placement,12,14,80.5
NT3,NT302,2024-25,nursing,student_placement,9,9,50
""",
}


def write_folder(folder: Path, **changes: str | None) -> Path:
    """The files above, with ``changes`` (file stem -> new text, or None to leave the file out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        stem = name.removesuffix(".csv")
        content = changes.get(stem, text) if stem in changes else text
        if content is not None:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "data")
