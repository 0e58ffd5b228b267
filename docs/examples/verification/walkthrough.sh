#!/usr/bin/env bash
# From record to verified presentation, on the demo registry of `make run` (run from the repository folder).
#
# 1. the demo provider's HR system (the verifier client in var/demo-clients.json) asks for a presentation
#    against its theatre-list policy;
# 2. the demo doctor's wallet signs in (approve the code at /device, signed in as the demo doctor),
#    registers its key and downloads the credentials the registry issues from the doctor's records;
# 3. the wallet answers the request, disclosing only what the policy needs;
# 4. the verifier reads the verified result, rule by rule.
set -euo pipefail
REGISTRY="${REGISTRY:-http://127.0.0.1:8000}"
CLIENTS="${CLIENTS:-var/demo-clients.json}"
PASSPORT="${PASSPORT:-.venv/bin/passport}"
WALLET="${WALLET:-var/demo-wallet}"

# 1. the verifier asks
VERIFIER_ID=$(jq -r .clients.verifier.client_id "$CLIENTS")
VERIFIER_SECRET=$(jq -r .clients.verifier.client_secret "$CLIENTS")
TOKEN=$(curl -sf -u "$VERIFIER_ID:$VERIFIER_SECRET" -d grant_type=client_credentials "$REGISTRY/oauth/token" \
        | jq -r .access_token)
REQUEST=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
          -d '{"policy": "theatre-surgical-trainee", "purpose": "Theatre list: pre-placement check"}' \
          "$REGISTRY/api/v1/presentation-requests")
REQUEST_ID=$(echo "$REQUEST" | jq -r .id)
REQUEST_URI=$(echo "$REQUEST" | jq -r .request_uri)
echo "request $REQUEST_ID: give the doctor $REQUEST_URI"

# 2. the doctor's wallet: a key, then the credentials (sign in by approving the code shown)
[ -f "$WALLET/holder-key.pem" ] || "$PASSPORT" wallet --dir "$WALLET" init
"$PASSPORT" wallet --dir "$WALLET" fetch --registry "$REGISTRY" --timeout 120
"$PASSPORT" wallet --dir "$WALLET" list

# 3. the wallet answers: only what the policy needs (sign in again by approving the new code)
"$PASSPORT" wallet --dir "$WALLET" present "$REQUEST_URI" --submit --timeout 120 || true

# 4. the verifier reads the result
curl -sf -H "Authorization: Bearer $TOKEN" "$REGISTRY/api/v1/presentation-requests/$REQUEST_ID" \
  | jq '{state, verdict: .result.verdict, summary: .result.summary,
         rules: [.result.outcome.rules[] | {type, passed, reason}],
         checks_failed: [.result.presentations[].checks[] | select(.outcome == "failed") | .code]}'
