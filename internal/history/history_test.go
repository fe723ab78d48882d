package history

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rec builds a record; times are in milliseconds.
func rec(client, session int, in Input, out Output, call, ret int64) Record {
	return Record{Client: client, Session: session, Peer: "p", Input: in, Output: out,
		Call: call * 1e6, Return: ret * 1e6}
}

func set(k string, v uint64) Input       { return Input{Op: Set, Key: k, Value: v} }
func get(k string) Input                 { return Input{Op: Get, Key: k} }
func cas(k string, v, seen uint64) Input { return Input{Op: Cas, Key: k, Value: v, Observed: seen} }
func incr(k string, d uint64) Input      { return Input{Op: Incr, Key: k, Delta: d} }
func del(k string) Input                 { return Input{Op: Delete, Key: k} }
func reply(r string) Output              { return Output{Reply: r} }
func found(v, unique uint64) Output      { return Output{Found: true, Value: v, Unique: unique} }
func number(v uint64) Output             { return Output{Reply: Number, Value: v} }
func unknown() Output                    { return Output{Unknown: true} }
func miss() Output                       { return Output{} }
func withUnknown(r Record) Record        { r.Output.Unknown = true; r.Return = Never; return r }
func add(k string, v uint64) Input       { return Input{Op: Add, Key: k, Value: v} }
func records(rs ...Record) []Record      { return rs }
func lin(t *testing.T, rs []Record) porcupine.CheckResult {
	t.Helper()
	return CheckLinearizable(rs, nil, 10*time.Second).Result
}

func TestModel_Linearizable(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
		want porcupine.CheckResult
	}{
		{"read after write", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(1, 5), 20, 30),
		), porcupine.Ok},
		{"stale read after write", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(0, 0, set("k", 2), reply(Stored), 20, 30),
			rec(1, 0, get("k"), found(1, 5), 40, 50),
		), porcupine.Illegal},
		{"concurrent read may see either", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(0, 0, set("k", 2), reply(Stored), 20, 30),
			rec(1, 0, get("k"), found(1, 5), 25, 50),
		), porcupine.Ok},
		{"cas against the value its gets saw", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(0, 0, cas("k", 2, 1), reply(Stored), 20, 30),
			rec(1, 0, cas("k", 3, 1), reply(Exists), 40, 50),
			rec(1, 0, get("k"), found(2, 7), 60, 70),
		), porcupine.Ok},
		{"incr applied twice", records(
			rec(0, 0, set("k", 10), reply(Stored), 0, 10),
			rec(0, 0, incr("k", 1), number(11), 20, 30),
			rec(1, 0, get("k"), found(12, 7), 40, 50),
		), porcupine.Illegal},
		{"add on a present key", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(1, 0, add("k", 2), reply(Stored), 20, 30),
		), porcupine.Illegal},
		{"delete then miss", records(
			rec(0, 0, set("k", 1), reply(Stored), 0, 10),
			rec(0, 0, del("k"), reply(Deleted), 20, 30),
			rec(1, 0, get("k"), miss(), 40, 50),
		), porcupine.Ok},
		{"unknown write seen later", records(
			withUnknown(rec(0, 0, set("k", 1), unknown(), 0, 0)),
			rec(1, 0, get("k"), miss(), 20, 30),
			rec(1, 0, get("k"), found(1, 5), 1000, 1010),
		), porcupine.Ok},
		{"unknown write seen, then lost", records(
			withUnknown(rec(0, 0, set("k", 1), unknown(), 0, 0)),
			rec(1, 0, get("k"), found(1, 5), 20, 30),
			rec(1, 0, get("k"), miss(), 40, 50),
		), porcupine.Illegal},
		{"value read before its write began", records(
			rec(1, 0, get("k"), found(1, 5), 0, 10),
			withUnknown(rec(0, 0, set("k", 1), unknown(), 20, 0)),
		), porcupine.Illegal},
		{"keys are independent", records(
			rec(0, 0, set("a", 1), reply(Stored), 0, 10),
			rec(0, 0, set("b", 2), reply(Stored), 0, 10),
			rec(1, 0, get("a"), found(1, 1), 20, 30),
			rec(1, 0, get("b"), found(2, 2), 20, 30),
		), porcupine.Ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, lin(t, tt.recs))
		})
	}
}

func TestOperations_UnknownWriteReturnsAtFirstRead(t *testing.T) {
	recs := records(
		withUnknown(rec(0, 0, set("k", 1), unknown(), 0, 0)),
		withUnknown(rec(0, 1, set("k", 2), unknown(), 5, 0)),
		rec(1, 0, get("k"), found(1, 5), 40, 50),
		rec(1, 0, get("k"), found(1, 5), 20, 30),
	)
	ops, unknown, tightened := Operations(recs)
	assert.Equal(t, 2, unknown)
	assert.Equal(t, 1, tightened)
	assert.Equal(t, int64(30e6), ops[0].Return, "the first read of the value bounds the write")
	assert.Equal(t, Never, ops[1].Return, "a value nobody read leaves the write open")
}

func TestRecorder_UnknownNeverReturns(t *testing.T) {
	r := NewRecorder()
	r.Add(Record{Input: set("k", 1), Output: unknown(), Call: r.Now(), Return: r.Now()})
	r.Add(Record{Input: get("k"), Output: miss(), Call: r.Now(), Return: r.Now()})
	r.Note("kill %s", "peer1")
	recs := r.Records()
	require.Len(t, recs, 2)
	assert.Equal(t, Never, recs[0].Return)
	assert.NotEqual(t, Never, recs[1].Return)
	assert.Equal(t, "kill peer1", r.Notes()[0].Text)
	assert.Contains(t, Summary(recs), "set unknown 1")
}

func TestReport_Visualize(t *testing.T) {
	recs := records(
		rec(0, 0, set("k", 1), reply(Stored), 0, 10),
		rec(0, 0, set("k", 2), reply(Stored), 20, 30),
		rec(1, 0, get("k"), found(1, 5), 40, 50),
	)
	rep := CheckLinearizable(recs, []Note{{At: 15e6, Text: "kill"}}, 10*time.Second)
	require.Equal(t, porcupine.Illegal, rep.Result)
	path := t.TempDir() + "/h.html"
	require.NoError(t, rep.Visualize(path, 10*time.Second))
	assert.FileExists(t, path)
}

func TestCheckSequential(t *testing.T) {
	tests := []struct {
		name string
		recs []Record
		want string // substring of the first violation; "" for none
	}{
		{"stale reads of other sessions are fine", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(2, 0, get("k"), found(100, 1), 15, 16),
			rec(0, 0, set("k", 200), reply(Stored), 20, 30),
			rec(2, 0, get("k"), found(200, 2), 35, 36),
			rec(1, 0, get("k"), found(100, 1), 40, 50),
		), ""},
		{"own write then older value", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(100, 1), 11, 12),
			rec(1, 0, set("k", 200), reply(Stored), 20, 30),
			rec(1, 0, get("k"), found(100, 1), 40, 50),
		), "older than"},
		{"own unread write then older value", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(100, 3), 11, 12),
			rec(1, 0, set("k", 200), reply(Stored), 20, 30),
			rec(1, 0, get("k"), found(100, 3), 40, 50),
		), "older than"},
		{"monotonic reads across keys", records(
			rec(0, 0, set("a", 100), reply(Stored), 0, 10),
			rec(0, 0, set("a", 200), reply(Stored), 20, 30),
			rec(0, 0, set("b", 300), reply(Stored), 40, 50),
			rec(2, 0, get("a"), found(100, 1), 5, 6),
			rec(2, 0, get("a"), found(200, 2), 35, 36),
			rec(2, 0, get("b"), found(300, 3), 55, 56),
			rec(1, 0, get("b"), found(300, 3), 60, 61),
			rec(1, 0, get("a"), found(100, 1), 62, 63),
		), "replaced before log position"},
		{"a new session may start over", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(0, 0, set("k", 200), reply(Stored), 20, 30),
			rec(1, 0, get("k"), found(200, 2), 40, 50),
			rec(1, 1, get("k"), found(100, 1), 60, 70),
		), ""},
		{"value never written", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(150, 1), 40, 50),
		), "no write produced"},
		{"value from unknown increments", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			withUnknown(rec(0, 0, incr("k", 2), unknown(), 20, 0)),
			withUnknown(rec(0, 1, incr("k", 3), unknown(), 20, 0)),
			rec(1, 0, get("k"), found(105, 3), 40, 50),
		), ""},
		{"one value, two uniques", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(100, 1), 40, 50),
			rec(2, 0, get("k"), found(100, 2), 40, 50),
		), "read with uniques"},
		{"one unique, two values", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(0, 0, set("k", 200), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(100, 1), 40, 50),
			rec(2, 0, get("k"), found(200, 1), 40, 50),
		), "read with values"},
		{"own write ordered before what the session saw", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(0, 0, set("j", 500), reply(Stored), 0, 10),
			rec(1, 0, get("j"), found(500, 9), 11, 12),
			rec(1, 0, set("k", 200), reply(Stored), 20, 30),
			rec(2, 0, get("k"), found(200, 4), 40, 50),
		), "not after log position"},
		{"failed add keeps older values readable", records(
			rec(0, 0, set("k", 100), reply(Stored), 0, 10),
			rec(1, 0, get("k"), found(100, 1), 11, 12),
			rec(1, 0, add("k", 200), reply(NotStored), 20, 30),
			rec(1, 0, get("k"), found(100, 1), 40, 50),
		), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := CheckSequential(tt.recs)
			if tt.want == "" {
				assert.Empty(t, vs)
				return
			}
			require.NotEmpty(t, vs)
			assert.Contains(t, vs[0].What, tt.want, vs[0].String())
		})
	}
}

func TestCheckLastWriterWins(t *testing.T) {
	base := records(
		rec(0, 0, set("k", 100), reply(Stored), 0, 10),
		rec(1, 0, set("k", 200), reply(Stored), 500, 510),
		rec(0, 0, set("d", 300), reply(Stored), 0, 10),
		rec(1, 0, del("d"), reply(Deleted), 500, 510),
		withUnknown(rec(2, 0, set("u", 400), unknown(), 0, 0)),
	)
	tests := []struct {
		name  string
		final map[string]Final
		want  string
	}{
		{"latest wins", map[string]Final{"k": {true, 200}, "d": {}, "u": {}}, ""},
		{"unknown write may win", map[string]Final{"u": {true, 400}}, ""},
		{"older write won", map[string]Final{"k": {true, 100}}, "acknowledged write began"},
		{"delete lost", map[string]Final{"d": {true, 300}}, "acknowledged write began"},
		{"write lost", map[string]Final{"k": {}}, "no delete could be the last"},
		{"garbage", map[string]Final{"k": {true, 999}}, "never written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := CheckLastWriterWins(base, tt.final, 100*time.Millisecond)
			if tt.want == "" {
				assert.Empty(t, vs)
				return
			}
			require.NotEmpty(t, vs)
			assert.True(t, strings.Contains(vs[0].What, tt.want), vs[0].String())
		})
	}
}
