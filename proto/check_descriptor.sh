#!/bin/sh
# Checks a compiled contracts descriptor set (build/proto/sluice.pb):
#   - it decodes as a google.protobuf.FileDescriptorSet and carries no source info;
#   - the custom options (extensions 50601 rules, 50602 contract) are present, readable through
#     options.proto, and every event type of the catalog has exactly one contract with a stage;
#   - every constraint kind (required, min_len, max_len, range, allowed, max_items, each format,
#     each pii kind) is used at least once, so loader tests built on the catalog cover them all.
# Usage: check_descriptor.sh PROTOC SLUICE_PB PROTO_SRC_DIR PROTOBUF_INCLUDE_DIR
# Run by the build after protoc (target sl_contracts_descriptor); prints a summary on success.
# On failure it deletes SLUICE_PB (when CHECK_KEEP is unset) so the build does not leave a bad
# descriptor set behind that a later build would consider up to date.
set -eu
protoc=$1 pb=$2 src=$3 inc=$4
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
fail() {
  echo "check_descriptor: $pb: $*" >&2
  [ -n "${CHECK_KEEP:-}" ] || rm -f "$pb"
  exit 1
}

"$protoc" -I"$src" -I"$inc" --decode=google.protobuf.FileDescriptorSet \
  sluice/options/v1/options.proto < "$pb" > "$tmp" || fail "not a FileDescriptorSet"
! grep -q '^  source_code_info' "$tmp" || fail "source_code_info present (descriptor set is bloated)"
! grep -q '^ *5060[12] ' "$tmp" || fail "options left as unknown fields"

# Raw wire check, independent of options.proto: the extension numbers are in the bytes.
raw=$("$protoc" --decode_raw < "$pb" | grep -c -E '^ *5060[12] \{' || true)
[ "$raw" -gt 0 ] || fail "no 50601/50602 options on the wire"

types="page_view screen_view product_view search add_to_cart remove_from_cart checkout_started
checkout_step purchase location_change notification_response identify alias consent_update
recommendation_impression recommendation_outcome"
for t in $types; do
  n=$(grep -c "type: \"$t\"" "$tmp" || true)
  [ "$n" -eq 1 ] || fail "event type $t: $n contracts (want 1)"
done
ncontracts=$(grep -c '\[sluice.options.v1.contract\]' "$tmp" || true)
nwant=$(echo $types | wc -w)
[ "$ncontracts" -eq "$nwant" ] || fail "$ncontracts contracts, catalog lists $nwant"
nstage=$(grep -A2 '\[sluice.options.v1.contract\]' "$tmp" | grep -c -E 'stage: STAGE_(RAW|IDENTITY|CONSENT|DECISIONS|OUTCOMES)$' || true)
[ "$nstage" -eq "$nwant" ] || fail "$((nwant - nstage)) contracts without a stage"

for k in 'required: true' 'min_len:' 'max_len:' 'range {' 'allowed:' 'max_items:' \
         FORMAT_UUID FORMAT_ISO4217 FORMAT_URL FORMAT_EMAIL FORMAT_RFC3339 FORMAT_COUNTRY \
         FORMAT_LOCALE PII_EMAIL PII_PHONE PII_IP PII_PRECISE_LOCATION PII_FREE_TEXT PII_USER_ID; do
  grep -q -- "$k" "$tmp" || fail "constraint '$k' is not used anywhere in the catalog"
done
nrules=$(grep -c '\[sluice.options.v1.rules\]' "$tmp" || true)
echo "check_descriptor: $pb ok: $ncontracts contracts, $nrules fields with rules, all constraint kinds present"
