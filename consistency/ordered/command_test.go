package ordered

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/consistency"
)

func TestCommand_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cmd  command
	}{
		{"tick", command{Kind: cmdTick, Now: 1700000000}},
		{"set", command{Kind: cmdRequest, Origin: 7, Seq: 9, Now: 1700000000, Req: consistency.Request{
			Op: consistency.OpSet, Keys: []string{"k"}, Value: []byte("value"), Flags: 1<<32 - 1, Exptime: 1700000100,
		}}},
		{"cas with expired time", command{Kind: cmdRequest, Origin: 1, Seq: 1, Now: -5, Req: consistency.Request{
			Op: consistency.OpCas, Keys: []string{"k"}, Value: []byte{}, Exptime: -1, Cas: 1 << 63,
		}}},
		{"gat many keys", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpGat, Keys: []string{"a", "b", "c"}, Value: []byte{}, Exptime: 9,
		}}},
		{"flush_all no keys", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpFlushAll, Keys: []string{}, Value: []byte{},
		}}},
		{"mg with every option", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpMetaGet, Keys: []string{"k"}, Value: []byte{}, Exptime: 60,
			Meta: consistency.MetaArgs{Order: "RTN", TTL: true, Vivify: true, VivifyExptime: -1, Recache: true, RecacheExptime: 1 << 40},
		}}},
		{"ms append cas invalidate", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpMetaSet, Keys: []string{"k"}, Value: []byte("v"), Cas: 5,
			Meta: consistency.MetaArgs{Mode: 'A', CompareCas: true, Invalidate: true, Order: ""},
		}}},
		{"ms with a chosen unique", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpMetaSet, Keys: []string{"k"}, Value: []byte("v"),
			Meta: consistency.MetaArgs{HasNewCas: true, NewCas: 1<<64 - 1},
		}}},
		{"md x I with a chosen unique of zero", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpMetaDelete, Keys: []string{"k"}, Value: []byte{}, Flags: 5, Exptime: 30,
			Meta: consistency.MetaArgs{RemoveValue: true, Invalidate: true, TTL: true, HasNewCas: true},
		}}},
		{"ma vivify", command{Kind: cmdRequest, Now: 3, Req: consistency.Request{
			Op: consistency.OpMetaArithmetic, Keys: []string{"k"}, Value: []byte{}, Delta: 2,
			Meta: consistency.MetaArgs{Mode: 'D', Vivify: true, Initial: 1<<64 - 1, Order: "N"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCommand(tt.cmd.encode(nil))
			require.NoError(t, err)
			assert.Equal(t, tt.cmd, got)
		})
	}
}

func TestCommand_DecodeRejectsMalformed(t *testing.T) {
	good := (&command{Kind: cmdRequest, Now: 1, Req: consistency.Request{
		Op: consistency.OpSet, Keys: []string{"key"}, Value: []byte("v"),
	}}).encode(nil)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"wrong format", append([]byte{9}, good[1:]...)},
		{"unknown kind", append([]byte{commandFormat, 99}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"meta op cut short", (&command{Kind: cmdRequest, Now: 1, Req: consistency.Request{
			Op: consistency.OpMetaGet, Keys: []string{"key"}, Value: []byte{},
		}}).encode(nil)[:len(good)-1]},
		{"unknown meta option bits", func() []byte {
			b := (&command{Kind: cmdRequest, Now: 1, Req: consistency.Request{Op: consistency.OpMetaDelete, Keys: []string{"k"}}}).encode(nil)
			// The options are the byte before mode, order length, two varints and J.
			opts := len(b) - 6
			return append(append(append([]byte{}, b[:opts]...), binary.AppendUvarint(nil, metaKnown+1)...), b[opts+1:]...)
		}()},
		{"E bit without its unique", func() []byte {
			b := (&command{Kind: cmdRequest, Now: 1, Req: consistency.Request{Op: consistency.OpMetaSet, Keys: []string{"k"},
				Meta: consistency.MetaArgs{HasNewCas: true, NewCas: 300}}}).encode(nil)
			return b[:len(b)-2]
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeCommand(tt.data)
			assert.ErrorIs(t, err, errBadCommand)
		})
	}
}

func TestProposal_RoundTrip(t *testing.T) {
	set := &command{Kind: cmdRequest, Origin: 7, Seq: 1, Now: 5, Req: consistency.Request{
		Op: consistency.OpSet, Keys: []string{"k"}, Value: []byte("v"),
	}}
	incr := &command{Kind: cmdRequest, Origin: 7, Seq: 2, Now: 5, Req: consistency.Request{
		Op: consistency.OpIncr, Keys: []string{"n"}, Value: []byte{}, Delta: 2,
	}}
	tests := []struct {
		name string
		cmds []*command
	}{
		{"one", []*command{set}},
		{"in order", []*command{set, incr, set}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := decodeProposal(encodeProposal(tt.cmds))
			require.NoError(t, err)
			require.Len(t, entries, len(tt.cmds))
			for i, e := range entries {
				got, err := decodeCommand(e)
				require.NoError(t, err)
				assert.Equal(t, *tt.cmds[i], got, "entry %d", i)
			}
		})
	}
}

func TestProposal_DecodeRejectsMalformed(t *testing.T) {
	good := encodeProposal([]*command{{Kind: cmdTick, Now: 1}, {Kind: cmdTick, Now: 2}})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no commands", []byte{0}},
		{"count past the data", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"undecodable command", []byte{1, 2, 9, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeProposal(tt.data)
			assert.ErrorIs(t, err, errBadCommand)
		})
	}
}

func TestCommand_MetaOptionsWithoutNewBitsKeepTheirEncoding(t *testing.T) {
	// Entries logged before md x and E existed had one options byte; the
	// uvarint that replaced it reads them the same.
	req := consistency.Request{Op: consistency.OpMetaSet, Keys: []string{"k"}, Value: []byte("v"),
		Meta: consistency.MetaArgs{CompareCas: true, NoWin: true, Mode: 'S'}}
	b := (&command{Kind: cmdRequest, Now: 1, Req: req}).encode(nil)
	assert.Equal(t, []byte{byte(metaCompareCas | metaNoWin), 'S', 0, 0, 0, 0}, b[len(b)-6:])
}

// FuzzDecodeCommand feeds the same bytes to both decoders of what reaches
// the log: a log entry's command and a forwarded proposal of several.
func FuzzDecodeCommand(f *testing.F) {
	f.Add((&command{Kind: cmdTick}).encode(nil))
	f.Add((&command{Kind: cmdRequest, Req: consistency.Request{Op: consistency.OpIncr, Keys: []string{"n"}, Delta: 3}}).encode(nil))
	f.Add((&command{Kind: cmdRequest, Req: consistency.Request{Op: consistency.OpMetaGet, Keys: []string{"k"},
		Meta: consistency.MetaArgs{Order: "TNR", TTL: true, Vivify: true, Recache: true, RecacheExptime: 9}}}).encode(nil))
	f.Add((&command{Kind: cmdRequest, Req: consistency.Request{Op: consistency.OpMetaSet, Keys: []string{"k"}, Value: []byte("v"),
		Meta: consistency.MetaArgs{Mode: 'A', CompareCas: true, Invalidate: true, KeyBinary: true}}}).encode(nil))
	f.Add(encodeProposal([]*command{
		{Kind: cmdRequest, Seq: 1, Req: consistency.Request{Op: consistency.OpSet, Keys: []string{"k"}, Value: []byte("v")}},
		{Kind: cmdTick, Now: 4},
	}))
	f.Add((&command{Kind: cmdRequest, Req: consistency.Request{Op: consistency.OpMetaDelete, Keys: []string{"k"}, Flags: 3,
		Meta: consistency.MetaArgs{RemoveValue: true, Invalidate: true, HasNewCas: true, NewCas: 1 << 50}}}).encode(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		if entries, err := decodeProposal(data); err == nil {
			var cmds []*command
			for _, e := range entries {
				c, err := decodeCommand(e)
				require.NoError(t, err, "a proposal holds only commands that decode")
				cmds = append(cmds, &c)
			}
			again, err := decodeProposal(encodeProposal(cmds))
			require.NoError(t, err)
			require.Len(t, again, len(cmds))
			for i, e := range again {
				c, err := decodeCommand(e)
				require.NoError(t, err)
				assert.Equal(t, *cmds[i], c, "command %d", i)
			}
		}
		c, err := decodeCommand(data)
		if err != nil {
			return
		}
		again, err := decodeCommand(c.encode(nil))
		require.NoError(t, err)
		assert.Equal(t, c, again)
	})
}
