"""Domain verbs of the passport: records (submit, import, correct, withdraw, read), the change feed and
claims of the credential lifecycle, the CSTF reference table, compliance policies.

One package (split past ~500 lines): ``reading``, ``writing``, ``lifecycle``, ``reference``, ``policies``,
``published`` (training placement records from a published placement match run).
Other code imports this package only (``from service.passport import service``).

Who may see what:

- an issuer submits records only as its own organisation (the origin of every record it submits) and
  reads, corrects and withdraws only the records its organisation submitted;
- an admin (operator) reads every record, but never an occupational health outcome: those are shown only
  to the organisation that stated them (and, as credentials, to the holder);
- a record outside the caller's view is reported as not found.

Services never commit: the request owns the transaction, so a refused batch or file writes nothing.
Writers take :func:`repository.lock_changes` before reading the current records, so concurrent writers
neither race for the same current record nor make the change feed skip a change.
"""

from service.passport.service.lifecycle import (
    changes_since,
    credential_claims,
    credentials_claims,
    feed_position,
    holder_records,
    lapsing,
    reencrypt,
    sealed_by_key,
)
from service.passport.service.policies import create_policy, get_policy, latest_policy, list_policies
from service.passport.service.published import submit_published_placements
from service.passport.service.reading import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    get_record,
    list_records,
    record_history,
    seal_outcome,
    to_read,
)
from service.passport.service.reference import list_subjects, update_subject
from service.passport.service.writing import (
    ImportRejected,
    correct,
    import_records,
    origin_problems,
    prepare,
    submit,
    withdraw,
)

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "ImportRejected",
    "changes_since",
    "correct",
    "create_policy",
    "credential_claims",
    "credentials_claims",
    "feed_position",
    "get_policy",
    "get_record",
    "holder_records",
    "import_records",
    "lapsing",
    "latest_policy",
    "list_policies",
    "list_records",
    "list_subjects",
    "origin_problems",
    "prepare",
    "record_history",
    "reencrypt",
    "seal_outcome",
    "sealed_by_key",
    "submit",
    "submit_published_placements",
    "to_read",
    "update_subject",
    "withdraw",
]
