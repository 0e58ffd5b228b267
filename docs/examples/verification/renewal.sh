#!/usr/bin/env bash
# From a renewal to a `valid` verdict, on the demo registry of `make run` (run from the repository folder;
# after walkthrough.sh, or alone: the demo doctor's wallet var/demo-wallet is seeded with their credentials).
#
# HR judges the demo doctor on their placement start, their next rotation: `not_compliant`, their
# information governance lapses three weeks before it. Then:
# 1. the demo issuer (the issuer client in var/demo-clients.json) submits the renewal, awarded today;
# 2. the registry's credential lifecycle (a pass every PASSPORT_LIFECYCLE_INTERVAL seconds inside
#    `passport serve`, 60 by default) re-issues the core skills credential and revokes the old one; the
#    issuer sees it in the doctor's credential list, which this script polls, and the doctor is told (by
#    email; in demo mode without PASSPORT_SMTP_URL, a line `notification for <person id>: ...` in the log);
# 3. the doctor's wallet fetches the new copy (approve the code at /device, signed in as the demo doctor);
# 4. HR asks again for the same day and reads the verdict: `valid`, every rule met.
# It changes the demo data (a record is submitted): run it once; run again, it finds nothing to renew.
set -euo pipefail
REGISTRY="${REGISTRY:-http://127.0.0.1:8000}"
CLIENTS="${CLIENTS:-var/demo-clients.json}"
PASSPORT="${PASSPORT:-.venv/bin/passport}"
PYTHON="${PYTHON:-.venv/bin/python}"
WALLET="${WALLET:-var/demo-wallet}"
GMC_NUMBER="${GMC_NUMBER:-5520234}"   # the demo doctor's at the default scale
TIMEOUT="${TIMEOUT:-180}"             # seconds to wait for the re-issue

token() {  # an access token of the demo client of role $1
  curl -sf -u "$(jq -r ".clients.$1.client_id" "$CLIENTS"):$(jq -r ".clients.$1.client_secret" "$CLIENTS")" \
       -d grant_type=client_credentials "$REGISTRY/oauth/token" | jq -r .access_token
}
VERIFIER_TOKEN=$(token verifier)
ISSUER_TOKEN=$(token issuer)
# the placement start: the next rotation (August's, or February's when August is under three weeks or over
# 11 months away), as the demo seeds it
START=$("$PYTHON" -c 'import datetime as d; from service.passport.demo import changeover_after as c; print(c(d.date.today()))')

judge() {  # HR asks for a presentation judged on $START, the wallet answers, HR reads the verdict
  local request id
  request=$(curl -sf --retry 3 -H "Authorization: Bearer $VERIFIER_TOKEN" -H 'Content-Type: application/json' \
            -d '{"policy": "theatre-surgical-trainee", "purpose": "Theatre list from '"$START"'", "evaluate_on": "'"$START"'"}' \
            "$REGISTRY/api/v1/presentation-requests")
  id=$(echo "$request" | jq -r .id)
  "$PASSPORT" wallet --dir "$WALLET" present "$(echo "$request" | jq -r .request_uri)" --submit --timeout 120 || true
  RESULT=$(curl -sf -H "Authorization: Bearer $VERIFIER_TOKEN" "$REGISTRY/api/v1/presentation-requests/$id" \
           | jq '{state, evaluated_on: .result.evaluated_on, verdict: .result.verdict, summary: .result.summary,
                  rules: [(.result.outcome.rules // [])[] | {type, passed, reason}],
                  checks_failed: [(.result.presentations // [])[].checks[] | select(.outcome == "failed") | .code]}')
  echo "$RESULT"
  VERDICT=$(echo "$RESULT" | jq -r .verdict)
}

echo "== before the renewal: judged on the placement start, $START"
judge
if [ "$VERDICT" = valid ]; then echo "already valid on $START: nothing to renew"; exit 0; fi

echo "== 1. the demo issuer submits the information governance renewal, awarded today"
PERSON=$(curl -sf -H "Authorization: Bearer $ISSUER_TOKEN" "$REGISTRY/api/v1/people?gmc_number=$GMC_NUMBER" \
         | jq -r '.items[0].id // empty')
[ -n "$PERSON" ] || { echo "nobody has GMC number $GMC_NUMBER: set GMC_NUMBER to the demo doctor's" >&2; exit 1; }
credentials() {  # the doctor's credentials that state the issuer's records, newest first (metadata only)
  curl -sf -H "Authorization: Bearer $ISSUER_TOKEN" "$REGISTRY/api/v1/credentials?person_id=$PERSON"
}
OLD=$(credentials | jq -r '[.items[] | select(.kind == "core_skills" and .state == "valid")][0].id // empty')
[ -n "$OLD" ] || { echo "no valid core skills credential: has the doctor's wallet registered its key (walkthrough.sh)?" >&2; exit 1; }
# --retry: on SQLite a write that meets the lifecycle's pass may be refused (503, Retry-After); nothing changed
RECORD=$(curl -s --fail-with-body --retry 3 -H "Authorization: Bearer $ISSUER_TOKEN" -H 'Content-Type: application/json' \
         "$REGISTRY/api/v1/records" \
         -d '{"kind": "core_skills", "gmc_number": "'"$GMC_NUMBER"'", "subject": "information_governance",
              "date_awarded": "'"$(date -u +%F)"'", "learning_provider": "e-Learning for Healthcare",
              "learning_method": "e_learning", "assurance_policy": "CSTF attainment",
              "assurance_outcome": "verified", "verification_method": "source_system"}') \
  || { echo "the record was refused: $RECORD" >&2; exit 1; }
echo "$RECORD" | jq -c '{id, subject, date_awarded, date_to}'

echo "== 2. waiting (at most ${TIMEOUT}s) for the registry to re-issue core skills credential $OLD"
deadline=$((SECONDS + TIMEOUT))
until NEW=$(credentials | jq -er --arg old "$OLD" '.items[] | select(.id == $old and .superseded_by != null) | .superseded_by'); do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "not re-issued within ${TIMEOUT}s: is the lifecycle running (PASSPORT_LIFECYCLE_INTERVAL > 0)?" >&2
    exit 1
  fi
  sleep 2
done
credentials | jq -c --arg old "$OLD" --arg new "$NEW" \
  '.items[] | select(.id == $old or .id == $new) | {id, kind, state, issued_at, superseded_by}'

echo "== 3. the wallet fetches the new copy"
"$PASSPORT" wallet --dir "$WALLET" fetch --registry "$REGISTRY" --timeout 120

echo "== 4. after the renewal: judged on $START again"
judge
[ "$VERDICT" = valid ] || { echo "expected valid on $START, got $VERDICT" >&2; exit 1; }
