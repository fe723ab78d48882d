#!/usr/bin/env bash
# Runs every test: format, vet, the race-enabled test suite, and a short fuzz
# pass over the protocol parser, the replica client's reply parser and the
# decoders of the envelope, the sync frames and the log entries.
# Tests that need memcached / memccapable skip when they are missing, unless
# MEMCONS_REQUIRE_MEMCACHED=1 (CI sets it) turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")"

# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# fail a target with "context deadline exceeded" at the deadline on a busy
# machine (go.dev/issue/75804, fixed in Go 1.27). 300,000 runs take about 10
# to 15 s per target here.
fuzztime=${MEMCONS_FUZZTIME:-300000x}

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

echo "== fuzz (-fuzztime ${fuzztime} each)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$fuzztime" ./controller
go test -run '^$' -fuzz '^FuzzDecodeEnvelope$' -fuzztime "$fuzztime" ./kvcontroller
go test -run '^$' -fuzz '^FuzzReadReply$' -fuzztime "$fuzztime" ./kvcontroller/mcclient
go test -run '^$' -fuzz '^FuzzReadFrame$' -fuzztime "$fuzztime" ./consistency/eventual
go test -run '^$' -fuzz '^FuzzDecodeCommand$' -fuzztime "$fuzztime" ./consistency/ordered

echo "== all tests passed"
