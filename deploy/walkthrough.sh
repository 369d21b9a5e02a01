#!/usr/bin/env bash
# The five-minute walkthrough of README.md, runnable: against the embedded mode (./run.sh, in another
# terminal) it registers a household, lets its income collapse, follows the decision, pays the month, reads
# the household's inbox and the cadre's alerts, and prints the whole event trace. Needs curl and Python.
#   deploy/walkthrough.sh            # services on 8001-8004 (./run.sh's default)
#   deploy/walkthrough.sh 18001      # another base port (EMBEDDED_BASE_PORT)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-8001}
# Services elsewhere: REGISTRY_URL, ELIGIBILITY_URL, DISBURSEMENT_URL, NOTIFICATIONS_URL.
registry=${REGISTRY_URL:-http://127.0.0.1:$base} eligibility=${ELIGIBILITY_URL:-http://127.0.0.1:$((base + 1))}
disbursement=${DISBURSEMENT_URL:-http://127.0.0.1:$((base + 2))}
notifications=${NOTIFICATIONS_URL:-http://127.0.0.1:$((base + 3))}
py() { uv run --frozen --quiet python "$@"; }
# pick KEY... : a value out of the JSON on stdin (list indexes are numbers)
pick() { python3 -c 'import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "1. Tokens: a county operator of 农安县 (220122) and, later, the household and its cadre"
county=$(py -m shared.auth --role county_operator --region 220122 --subject walkthrough-operator)
auth=(-H "Authorization: Bearer $county" -H "Content-Type: application/json")

step "2. Register a household (two members, wages of 9,000 yuan a month, cadre 'cadre-walk')"
ids=$(py -c 'import random
from services.registry.domain.identity import check_character
for sex in (1, 0):
    birth = "%d0%d1%d" % (random.randint(1950, 1990), random.randint(1, 9), random.randint(0, 9))
    first17 = "220122%s%03d" % (birth, random.randrange(0, 499) * 2 + sex)
    print(first17 + check_character(first17))')
head_id=$(sed -n 1p <<<"$ids") spouse_id=$(sed -n 2p <<<"$ids")
household=$(curl -sf "${auth[@]}" "$registry/v1/households" -d @- <<JSON
{"region_code": "220122", "address": "农安县示范村1组", "poverty_status": "not_lifted",
 "members": [{"name": "示范户主", "id_number": "$head_id", "relation": "head", "labour_capacity": "full"},
             {"name": "示范配偶", "id_number": "$spouse_id", "relation": "spouse", "labour_capacity": "full"}],
 "incomes": [{"type": "wages", "amount_fen": 900000, "period": "month", "effective_from": "2026-01-01"}],
 "assignment": {"cadre_id": "cadre-walk", "cadre_name": "示范干部", "unit": "农安县民政局", "since": "2026-01-01"}}
JSON
)
household_id=$(pick id <<<"$household") income_id=$(pick incomes 0 id <<<"$household")
echo "household $household_id"

step "3. Its income collapses: correct the wages to 0 (the response's traceparent names the trace)"
trace_id=$(curl -sf -D - -o /dev/null -X PATCH "${auth[@]}" "$registry/v1/households/$household_id/incomes/$income_id" \
  -d '{"amount_fen": 0}' | tr -d '\r' | awk -F- 'tolower($0) ~ /^traceparent:/ {print $2}')
echo "trace $trace_id"

step "4. Eligibility decides (dibao granted, with its explanation's amount)"
for _ in $(seq 300); do
  decisions=$(curl -sf "${auth[@]}" "$eligibility/v1/households/$household_id/decisions" || true)
  grep -q '"eligible"' <<<"$decisions" && break
  sleep 0.2
done
python3 -c 'import json, sys
for d in json.load(sys.stdin)["items"]:
    print("  %s: %s, %.2f yuan a month" % (d["programme"], d["status"], d["monthly_amount_fen"] / 100))' <<<"$decisions"

step "5. The county pays the month: once disbursement holds the entitlement, fund it, run it, wait for the bank"
for _ in $(seq 300); do
  curl -sf "${auth[@]}" "$disbursement/v1/households/$household_id/entitlements" | grep -q '"active"' && break
  sleep 0.2
done
month=$(TZ=Asia/Shanghai date +%Y-%m)
curl -sf "${auth[@]}" "$disbursement/v1/county-funds/220122/top-ups" -d '{"amount_fen": 100000000}' >/dev/null
# 409: the county's run for this month is still finishing; a new run can start once it has.
for _ in $(seq 120); do
  run=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$disbursement/v1/payment-runs" \
    -d "{\"region_code\": \"220122\", \"month\": \"$month\"}")
  [[ $run == 409 ]] || break
  sleep 0.5
done
echo "  run started: HTTP $run"
for _ in $(seq 600); do
  payments=$(curl -sf "${auth[@]}" "$disbursement/v1/households/$household_id/payments" || true)
  grep -q '"paid"' <<<"$payments" && break
  sleep 0.2
done
python3 -c 'import json, sys
items = json.loads(sys.stdin.read().strip() or "{}").get("items") or [{"status": "not paid yet", "amount_fen": 0}]
print("  payment: %s, %s fen" % (items[0]["status"], items[0]["amount_fen"]))' <<<"$payments"

step "6. The household's inbox (its own token)"
own=$(py -m shared.auth --role household --region 220122 --household-id "$household_id")
for _ in $(seq 300); do
  inbox=$(curl -sf -H "Authorization: Bearer $own" "$notifications/v1/inbox")
  grep -q 'payment.paid' <<<"$inbox" && break
  sleep 0.2
done
python3 -c 'import json, sys
for n in json.load(sys.stdin)["items"]:
    print("  [%s] %s: %s" % (n["severity"], n["title"], n["body"]))' <<<"$inbox"

step "7. The cadre's alerts (a village cadre's token: its subject is the cadre id)"
cadre=$(py -m shared.auth --role village_cadre --region 220122 --subject cadre-walk)
curl -sf -H "Authorization: Bearer $cadre" "$notifications/v1/alerts?household_id=$household_id" | python3 -c 'import json, sys
for a in json.load(sys.stdin)["items"]:
    print("  %s (%s): %s, with the %s" % (a["title"], a["category"], a["status"], a["level"]))'

step "8. One trace from the change to the money and the notices"
curl -sf "${auth[@]}" "$notifications/v1/traces/$trace_id" | python3 -c 'import json, sys
trace = json.load(sys.stdin)
print("  services:", ", ".join(trace["services"]))
def show(node, depth=1):
    latency = "" if node["latency_ms"] is None else "  +%.0f ms" % node["latency_ms"]
    print("  " * depth + "%-13s %s%s" % (node["service"], node["type"], latency))
    for child in node["children"]:
        show(child, depth + 1)
for root in trace["tree"]:
    show(root)'

step "9. The operators' page: open $notifications/ and paste the county token:"
echo "$county"
