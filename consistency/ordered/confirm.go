package ordered

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Leadership confirmation.
//
// raft's VerifyLeader counts any AppendEntries answer that arrives after
// the call, including the answer to a heartbeat or a pipelined append sent
// before it: a leader cut off an instant ago could still confirm itself
// from answers already in its buffers. A read index needs a confirmation
// the followers gave after the read began, so the leader asks them itself:
// each follower answers whether it still follows this leader's term, and a
// follower that does has not voted in a later one. With a majority (this
// peer included) following the term after the commit index was taken, no
// later leader can have acknowledged a write before it.

// confirmRetry is the pause before asking a follower again that could not
// be reached or lags a term behind.
const confirmRetry = 20 * time.Millisecond

// errTermMoved reports a follower that answered from another term or
// while not following: this peer has lost (or is losing) its leadership.
var errTermMoved = fmt.Errorf("a follower left the term: %w", raft.ErrLeadershipLost)

// confirmTerm returns once a majority of the peers, this one included,
// confirmed after the call began that they follow term, in which this
// peer leads. It fails as soon as a majority can no longer confirm, when
// this peer stops leading term, or when ctx ends.
func (m *Mode) confirmTerm(ctx context.Context, r *raft.Raft, term uint64) error {
	others := make([]string, 0, len(m.cfg.Peers))
	for _, p := range m.cfg.Peers {
		if p != m.cfg.Self {
			others = append(others, p)
		}
	}
	need := len(m.cfg.Peers) / 2 // followers needed beside this peer
	if need == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	// A follower cut off silently holds its attempt for the attempt
	// limit: the round ends as soon as raft steps this peer down instead.
	wg.Go(func() {
		t := time.NewTicker(confirmRetry)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !leads(r, term) {
					cancel(fmt.Errorf("no longer leader in term %d: %w", term, raft.ErrLeadershipLost))
					return
				}
			}
		}
	})
	answers := make(chan error, len(others))
	for _, p := range others {
		wg.Go(func() { answers <- m.confirmFrom(ctx, r, p, term) })
	}
	ok, failed := 0, 0
	var first error
	for range others {
		err := <-answers
		if err == nil {
			if ok++; ok >= need {
				return nil
			}
			continue
		}
		if first == nil || (errors.Is(err, raft.ErrLeadershipLost) && !errors.Is(first, raft.ErrLeadershipLost)) {
			first = err
		}
		if failed++; failed > len(others)-need {
			break
		}
	}
	return fmt.Errorf("term %d confirmed by %d of the %d followers needed: %w", term, ok, need, first)
}

// confirmFrom asks follower p, over the forward channel, whether it
// follows term, until it says so, refuses, this peer stops leading term or
// ctx ends. An unreachable or silent follower is asked again.
func (m *Mode) confirmFrom(ctx context.Context, r *raft.Raft, p string, term uint64) error {
	req := binary.BigEndian.AppendUint64(nil, term)
	for {
		if !leads(r, term) {
			return fmt.Errorf("confirm with %s: %w", p, raft.ErrLeadershipLost)
		}
		a, err := m.askFollower(ctx, p, req)
		switch {
		case err == nil && a.status == fwdOK:
			return nil
		case err == nil && a.status == fwdNotLeader && a.index < term:
			// A follower restarted or not yet reached by this term's
			// first append: it catches up at the next heartbeat.
		case err == nil && a.status == fwdNotLeader:
			return fmt.Errorf("confirm with %s (at term %d): %w", p, a.index, errTermMoved)
		case err == nil:
			return fmt.Errorf("confirm with %s: %s", p, a.msg)
		case ctx.Err() != nil:
			return fmt.Errorf("confirm with %s: %w", p, context.Cause(ctx))
		}
		t := time.NewTimer(confirmRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("confirm with %s: %w", p, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// leads reports whether r still leads in term.
func leads(r termState, term uint64) bool {
	return r.State() == raft.Leader && r.CurrentTerm() == term
}

// askFollower sends one confirmation request to p, bounded by the read
// attempt limit. A connection whose answer did not come within it, or
// before this peer stepped down, may be one a partition silently drops: it
// is retired, so the next request dials afresh. (A call cut short because
// the other followers already confirmed keeps its connection.)
func (m *Mode) askFollower(ctx context.Context, p string, req []byte) (fwdAnswer, error) {
	c, err := m.fwd.conn(ctx, p)
	if err != nil {
		return fwdAnswer{}, err
	}
	actx, cancel := context.WithTimeout(ctx, m.readAttemptLimit())
	defer cancel()
	a, err := c.call(actx, fwdConfirm, req)
	if err != nil && actx.Err() != nil && (ctx.Err() == nil || errors.Is(context.Cause(ctx), raft.ErrLeadershipLost)) {
		c.retire()
	}
	return a, err
}

// termState is what answering a confirmation needs of raft; *raft.Raft
// implements it.
type termState interface {
	State() raft.RaftState
	CurrentTerm() uint64
}

// answerConfirm answers a leader's confirmation request on a follower:
// OK while this peer follows the asked term, else its own term (a later
// one tells the asker it was deposed).
func answerConfirm(r termState, data []byte) fwdAnswer {
	if len(data) < 8 {
		return fwdAnswer{status: fwdFailed, msg: fmt.Sprintf("confirm request of %d bytes", len(data))}
	}
	term := binary.BigEndian.Uint64(data)
	cur := r.CurrentTerm()
	if r.State() == raft.Follower && cur == term {
		return fwdAnswer{status: fwdOK, index: cur}
	}
	return fwdAnswer{status: fwdNotLeader, index: cur}
}
