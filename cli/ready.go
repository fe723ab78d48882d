package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotReady reports a cluster that could not serve within the wait.
var ErrNotReady = errors.New("cluster not ready")

// NotReadyError is ErrNotReady with what was still missing.
type NotReadyError struct{ Why string }

func (e *NotReadyError) Error() string { return ErrNotReady.Error() + ": " + e.Why }

// Unwrap makes errors.Is(err, ErrNotReady) hold.
func (e *NotReadyError) Unwrap() error { return ErrNotReady }

// readyPoll is how often WaitReady asks the peers again.
const readyPoll = 200 * time.Millisecond

// WaitReady asks every peer at addrs for its own state until the cluster
// can serve, or until ctx ends. In the ordered modes that is when a leader
// is elected and every peer has applied what the leader had committed when
// it was first seen; in eventual mode, when every peer has finished its
// first sync. It returns a one-line summary, or a *NotReadyError naming
// what was still missing.
func WaitReady(ctx context.Context, addrs []string, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	clients := make([]*client, len(addrs))
	for i, a := range addrs {
		clients[i] = newClient(a, timeout)
		defer clients[i].Close()
	}
	var w readyWait
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		selves := make([]peerInfo, 0, len(clients))
		var why string
		for _, c := range clients {
			info, err := fetchCluster(ctx, c)
			if err != nil {
				why = fmt.Sprintf("%s not answering: %v", c.addr, err)
				break
			}
			self, ok := info.selfPeer()
			if !ok {
				why = fmt.Sprintf("%s does not report itself", c.addr)
				break
			}
			w.mode = info.mode
			selves = append(selves, self)
		}
		if why == "" {
			var ready bool
			if ready, why = w.check(selves); ready {
				return why, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", &NotReadyError{Why: why}
		case <-t.C:
		}
	}
}

// selfPeer returns the reporting peer's own entry.
func (info clusterInfo) selfPeer() (peerInfo, bool) {
	for _, p := range info.peers {
		if p.name == info.self {
			return p, true
		}
	}
	return peerInfo{}, false
}

// readyWait is the state of one WaitReady: the mode and, in the ordered
// modes, the applied index every peer must reach.
type readyWait struct {
	mode      string
	target    uint64
	hasTarget bool
}

// check judges one round of the peers' own states. It does no IO.
func (w *readyWait) check(selves []peerInfo) (bool, string) {
	if w.mode == "eventual" {
		for _, p := range selves {
			// A peer's role stops saying "catching up" once it synced with
			// every peer it hears; last_sync names any it never synced with.
			if p.fields["role"] == "catching up" || strings.Contains(p.fields["last_sync"], "=never") {
				return false, fmt.Sprintf("%s has not finished its first sync (last sync: %s)", p.name, p.fields["last_sync"])
			}
		}
		return true, "every peer finished its first sync"
	}
	leader := ""
	for _, p := range selves {
		if p.fields["role"] == "leader" {
			leader = p.name
			if !w.hasTarget {
				applied, errA := strconv.ParseUint(p.fields["applied_index"], 10, 64)
				behind, errB := strconv.ParseUint(p.fields["behind"], 10, 64)
				if errA != nil || errB != nil {
					return false, fmt.Sprintf("leader %s reports no applied index", p.name)
				}
				w.target, w.hasTarget = applied+behind, true
			}
		}
	}
	if leader == "" {
		return false, "no leader elected yet"
	}
	for _, p := range selves {
		applied, err := strconv.ParseUint(p.fields["applied_index"], 10, 64)
		if err != nil {
			return false, fmt.Sprintf("%s reports no applied index", p.name)
		}
		if applied < w.target {
			return false, fmt.Sprintf("%s is catching up: applied index %d of %d (%d behind)", p.name, applied, w.target, w.target-applied)
		}
	}
	return true, fmt.Sprintf("leader %s; every peer has applied index %d", leader, w.target)
}
