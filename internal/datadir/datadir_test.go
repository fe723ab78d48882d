package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClaim(t *testing.T) {
	lin := Identity{Cluster: "memcons", Mode: "linearizable", Peer: "peer1"}
	cases := []struct {
		name     string
		first    *Identity // claimed before, if any
		legacy   string    // file or directory left by a version without identity files
		want     Identity
		mismatch bool
	}{
		{name: "first start", want: lin},
		{name: "same again", first: &lin, want: lin},
		{name: "other mode", first: &lin, want: Identity{"memcons", "eventual", "peer1"}, mismatch: true},
		{name: "other strict mode", first: &lin, want: Identity{"memcons", "sequential", "peer1"}, mismatch: true},
		{name: "other cluster", first: &lin, want: Identity{"other", "linearizable", "peer1"}, mismatch: true},
		{name: "other peer", first: &lin, want: Identity{"memcons", "linearizable", "peer2"}, mismatch: true},
		{name: "legacy raft log, strict mode", legacy: "raft/", want: lin},
		{name: "legacy raft log, eventual", legacy: "raft/", want: Identity{"memcons", "eventual", "peer1"}, mismatch: true},
		{name: "legacy sync state, strict", legacy: "eventual-sync.json", want: lin, mismatch: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "peer1")
			if tc.first != nil {
				require.NoError(t, Claim(dir, *tc.first))
			}
			if tc.legacy != "" {
				require.NoError(t, os.MkdirAll(dir, 0o755))
				p := filepath.Join(dir, tc.legacy)
				if tc.legacy[len(tc.legacy)-1] == '/' {
					require.NoError(t, os.MkdirAll(p, 0o755))
				} else {
					require.NoError(t, os.WriteFile(p, []byte("{}"), 0o644))
				}
			}
			err := Claim(dir, tc.want)
			if !tc.mismatch {
				require.NoError(t, err)
				got, err := read(filepath.Join(dir, IdentityFile))
				require.NoError(t, err)
				assert.Equal(t, tc.want, got, "the directory records the identity")
				return
			}
			require.ErrorIs(t, err, ErrMismatch)
			var me *MismatchError
			require.True(t, errors.As(err, &me))
			assert.Equal(t, tc.want, me.Want)
			assert.Contains(t, err.Error(), dir)
			assert.Contains(t, err.Error(), tc.want.Mode)
			assert.Contains(t, err.Error(), "memcons reset", "the message names the reset command")
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestClaim_UnreadableIdentity(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, IdentityFile), []byte("garbage\n"), 0o644))
	err := Claim(dir, Identity{"memcons", "eventual", "peer1"})
	require.ErrorIs(t, err, ErrIdentity)
	assert.Contains(t, err.Error(), IdentityFile)
}

func TestReset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "peer1")
	id := Identity{"memcons", "linearizable", "peer1"}
	require.NoError(t, Claim(dir, id))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "raft", "wal"), 0o755))
	require.NoError(t, Reset(dir))
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, Reset(dir), "a missing directory is already reset")
	require.NoError(t, Claim(dir, Identity{"memcons", "eventual", "peer1"}), "after a reset any mode may claim it")
}
