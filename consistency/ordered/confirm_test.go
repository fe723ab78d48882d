package ordered

import (
	"encoding/binary"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
)

type fixedTerm struct {
	state raft.RaftState
	term  uint64
}

func (f fixedTerm) State() raft.RaftState { return f.state }
func (f fixedTerm) CurrentTerm() uint64   { return f.term }

func TestAnswerConfirm(t *testing.T) {
	ask := func(term uint64) []byte { return binary.BigEndian.AppendUint64(nil, term) }
	for _, tc := range []struct {
		name   string
		peer   fixedTerm
		req    []byte
		status byte
		index  uint64
	}{
		{"follower in the term", fixedTerm{raft.Follower, 7}, ask(7), fwdOK, 7},
		{"follower a term behind", fixedTerm{raft.Follower, 6}, ask(7), fwdNotLeader, 6},
		{"follower in a later term", fixedTerm{raft.Follower, 8}, ask(7), fwdNotLeader, 8},
		{"candidate", fixedTerm{raft.Candidate, 8}, ask(7), fwdNotLeader, 8},
		{"leader of the same term", fixedTerm{raft.Leader, 7}, ask(7), fwdNotLeader, 7},
		{"shut down", fixedTerm{raft.Shutdown, 7}, ask(7), fwdNotLeader, 7},
		{"short request", fixedTerm{raft.Follower, 7}, []byte{0, 7}, fwdFailed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := answerConfirm(tc.peer, tc.req)
			assert.Equal(t, tc.status, a.status)
			assert.Equal(t, tc.index, a.index)
		})
	}
}
