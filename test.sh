#!/usr/bin/env bash
# Runs every test: format, vet, the race-enabled test suite, and a short fuzz
# pass over the protocol parser and the decoders of the envelope, the sync
# frames and the log entries.
# Tests that need memcached / memccapable skip when they are missing, unless
# MEMCONS_REQUIRE_MEMCACHED=1 (CI sets it) turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")"

fuzztime=${MEMCONS_FUZZTIME:-15s}

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

if ! command -v memcached >/dev/null; then
	echo "note: memcached is not installed: tests against a real memcached will skip" >&2
fi

echo "== go test -race"
go test -race -count=1 -timeout 25m ./...

echo "== fuzz (${fuzztime} each)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$fuzztime" ./controller
go test -run '^$' -fuzz '^FuzzDecodeEnvelope$' -fuzztime "$fuzztime" ./kvcontroller
go test -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime "$fuzztime" ./consistency/eventual
go test -run '^$' -fuzz '^FuzzDecodeCommand$' -fuzztime "$fuzztime" ./consistency/ordered

echo "== all tests passed"
