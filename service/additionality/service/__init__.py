"""Domain verbs of additionality: submit offers, rosters and activity; version the shortage list and the
parameters; check offers; read, reproduce, summarise and export the results.

Callers import this package (``from service.additionality import service``); the verbs live in:

| module | verbs |
|---|---|
| ``offers.py`` | ``create_offer``, ``import_offers``, ``import_roster``, ``get_offer``, ``list_offers`` |
| ``activity.py`` | ``record_activity``, ``import_activity`` |
| ``versions.py`` | shortage lists and parameter sets: create, list, get; ``shortage_list_on`` |
| ``checks.py`` | ``gather_inputs``, ``check_offer``, ``check_year``, ``get_check``, ``list_checks``, |
| | ``reproduce``, ``hosted_training_placements`` (where the placements domain is wired in) |
| ``results.py`` | ``summary``, ``export_csv``, ``report_html``, ``failed_sites`` (the placements gate) |
| ``common.py`` | errors, who may see an offer, inserts |

Who may see what (the route guards decide who may call at all; see docs/additionality.md):

- an issuer acts for an independent provider or one of its sites: it submits offers and rosters for its
  sites and activity for its own organisation, and reads the offers and results of its sites only;
- analysts, coordinators and admins read every offer and result and run checks;
- only an admin writes shortage lists and parameter versions.

An offer outside the caller's view is reported as not found. Services never commit: the request (or the
CLI command) owns the transaction, so a refused submission writes nothing.

Workforce data (people, employments, organisations, headcounts) comes through
:mod:`service.workforce.service` only.
"""

from service.additionality.service.activity import import_activity, record_activity
from service.additionality.service.checks import (
    DECLARED_SOURCE,
    HostedPlacements,
    check_offer,
    check_year,
    gather_inputs,
    get_check,
    hosted_training_placements,
    input_hash,
    list_checks,
    reproduce,
)
from service.additionality.service.common import DEFAULT_LIMIT, MAX_LIMIT
from service.additionality.service.offers import (
    create_offer,
    get_offer,
    import_offers,
    import_roster,
    list_offers,
)
from service.additionality.service.results import (
    YearResults,
    export_csv,
    failed_sites,
    report_html,
    summary,
    year_results,
)
from service.additionality.service.versions import (
    create_parameter_set,
    create_shortage_list,
    get_parameter_set,
    get_shortage_list,
    list_parameter_sets,
    list_shortage_lists,
    shortage_list_on,
)

__all__ = [
    "DECLARED_SOURCE",
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "HostedPlacements",
    "YearResults",
    "check_offer",
    "check_year",
    "create_offer",
    "create_parameter_set",
    "create_shortage_list",
    "export_csv",
    "failed_sites",
    "gather_inputs",
    "get_check",
    "get_offer",
    "get_parameter_set",
    "get_shortage_list",
    "hosted_training_placements",
    "import_activity",
    "import_offers",
    "import_roster",
    "input_hash",
    "list_checks",
    "list_offers",
    "list_parameter_sets",
    "list_shortage_lists",
    "record_activity",
    "report_html",
    "reproduce",
    "shortage_list_on",
    "summary",
    "year_results",
]
