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
// request with a fixed result for its op: reads miss, writes succeed.
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
		switch op := reqs[i].Op; {
		case op.IsRead(), op == consistency.OpMetaGet: // a miss
			outs[i].Result = consistency.Result{}
		case op == consistency.OpMetaDelete:
			outs[i].Result = consistency.Result{Status: consistency.StatusDeleted}
		case op == consistency.OpMetaArithmetic:
			outs[i].Result = consistency.Result{Status: consistency.StatusNumber, Number: 1}
		default:
			outs[i].Result = consistency.Result{Status: consistency.StatusStored}
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
		{
			name:  "meta commands",
			input: "ms a 1\r\n1\r\nmd b q\r\nget a\r\nma c\r\nmg a v\r\nme a\r\nmn\r\n",
			want: [][]consistency.Op{{consistency.OpMetaSet, consistency.OpMetaDelete, consistency.OpGet,
				consistency.OpMetaArithmetic, consistency.OpMetaGet, consistency.OpGet}},
			reply: "HD\r\nEND\r\nHD\r\nEN\r\nEN\r\nMN\r\n",
		},
		{
			// me reads in its place: a write behind it is not seen.
			name:  "me before a set",
			input: "me a\r\nset a 0 0 1\r\n1\r\n",
			want:  [][]consistency.Op{{consistency.OpGet, consistency.OpSet}},
			reply: "EN\r\nSTORED\r\n",
		},
		{
			name:  "a quiet meta bulk load",
			input: "ms a 1 q\r\n1\r\nms b 1 q T0\r\n2\r\nma c q\r\nmd a q\r\nmn\r\n",
			want: [][]consistency.Op{{consistency.OpMetaSet, consistency.OpMetaSet,
				consistency.OpMetaArithmetic, consistency.OpMetaDelete}},
			reply: "MN\r\n",
		},
		{
			name:  "an ms refused as too large deletes its key in its place",
			input: "ms a 1\r\n1\r\nms a 2000 q\r\n" + big + "\r\nms a 1\r\n2\r\n",
			want:  [][]consistency.Op{{consistency.OpMetaSet, consistency.OpDelete}, {consistency.OpMetaSet}},
			reply: "HD\r\nSERVER_ERROR object too large for cache\r\nHD\r\n",
		},
		{
			// The O token is too long: the mg still runs, then the error is
			// its reply.
			name:  "an mg with a too long opaque runs in its place",
			input: "ms a 1\r\n1\r\nmg a v O123456789012345678901234567890123\r\nmg a\r\n",
			want:  [][]consistency.Op{{consistency.OpMetaSet, consistency.OpMetaGet, consistency.OpMetaGet}},
			reply: "HD\r\nCLIENT_ERROR opaque token too long\r\nEN\r\n",
		},
		{
			// memcached swallows the block of an ms whose flags it refuses.
			name:  "a refused ms swallows its block",
			input: "ms a 1 MZ\r\n1\r\nms b 1\r\n2\r\n",
			want:  [][]consistency.Op{{consistency.OpMetaSet}},
			reply: "CLIENT_ERROR invalid mode for ms M token\r\nHD\r\n",
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
