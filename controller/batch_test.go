package controller

import (
	"bufio"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

// batchMode records the ops of every DoBatch call and answers each
// request with a fixed result.
type batchMode struct {
	mu      sync.Mutex
	batches [][]consistency.Op
}

func (m *batchMode) Do(ctx context.Context, req *consistency.Request) (consistency.Result, error) {
	var out [1]consistency.Outcome
	m.DoBatch(ctx, []consistency.Request{*req}, out[:])
	return out[0].Result, out[0].Err
}

func (m *batchMode) DoBatch(_ context.Context, reqs []consistency.Request, outs []consistency.Outcome) {
	ops := make([]consistency.Op, len(reqs))
	for i := range reqs {
		ops[i] = reqs[i].Op
		outs[i].Result = consistency.Result{Status: consistency.StatusStored}
		if reqs[i].Op.IsRead() {
			outs[i].Result = consistency.Result{}
		}
	}
	m.mu.Lock()
	m.batches = append(m.batches, ops)
	m.mu.Unlock()
}

func (m *batchMode) got() [][]consistency.Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.batches
}

// TestConn_PipelineIsOneBatch sends commands that reach the server in one
// read: their requests go to the mode in one DoBatch, in order, while the
// commands that ask nothing of the mode are answered in their place.
func TestConn_PipelineIsOneBatch(t *testing.T) {
	big := strings.Repeat("x", 2000)
	tests := []struct {
		name  string
		input string
		want  [][]consistency.Op
		reply string
	}{
		{
			name:  "writes and reads",
			input: "set a 0 0 1\r\n1\r\nget a\r\nset b 0 0 1 noreply\r\n2\r\nget a b\r\n",
			want:  [][]consistency.Op{{consistency.OpSet, consistency.OpGet, consistency.OpSet, consistency.OpGet}},
			reply: "STORED\r\nEND\r\nEND\r\n",
		},
		{
			name:  "commands the controller answers keep their place",
			input: "set a 0 0 1\r\n1\r\nversion\r\nbogus\r\nget a\r\n",
			want:  [][]consistency.Op{{consistency.OpSet, consistency.OpGet}},
			reply: "STORED\r\nVERSION " + DefaultVersion + "\r\nERROR\r\nEND\r\n",
		},
		{
			// The refused block is swallowed before the next command is
			// parsed, so the batch ends there.
			name:  "a set refused as too large deletes its key in its place",
			input: "set a 0 0 1\r\n1\r\nset a 0 0 2000\r\n" + big + "\r\nset a 0 0 1\r\n2\r\n",
			want:  [][]consistency.Op{{consistency.OpSet, consistency.OpDelete}, {consistency.OpSet}},
			reply: "STORED\r\nSERVER_ERROR object too large for cache\r\nSTORED\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := &batchMode{}
			// Over a pipe the whole input reaches the server in one read.
			l := newPipeListener()
			startServer(t, Config{ItemSizeMax: 1024}, mode, Options{}, l)
			c, err := l.Dial()
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			lines := strings.Count(tt.reply, "\n")
			got := roundTrip(t, c, bufio.NewReader(c), tt.input, func(string) bool { lines--; return lines == 0 })
			assert.Equal(t, tt.reply, got)
			assert.Equal(t, tt.want, mode.got())
		})
	}
}
