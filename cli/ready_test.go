package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReadyWait_Check(t *testing.T) {
	p := func(name string, kv ...string) peerInfo {
		f := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			f[kv[i]] = kv[i+1]
		}
		return peerInfo{name: name, fields: f}
	}
	cases := []struct {
		name      string
		mode      string
		target    uint64 // preset target; 0 = none yet
		selves    []peerInfo
		ready     bool
		why       string
		newTarget uint64
	}{
		{name: "eventual, all synced", mode: "eventual",
			selves: []peerInfo{p("a", "role", "peer", "last_sync", "b=07:25:43.189"), p("b", "role", "peer", "last_sync", "a=07:25:42.618")},
			ready:  true, why: "every peer finished its first sync"},
		{name: "eventual, a peer it never synced with", mode: "eventual",
			selves: []peerInfo{p("a", "role", "peer", "last_sync", "b=07:25:43.189"), p("b", "role", "peer", "last_sync", "a=never")},
			why:    "b has not finished its first sync (last sync: a=never)"},
		{name: "eventual, one catching up", mode: "eventual",
			selves: []peerInfo{p("a", "role", "peer"), p("b", "role", "catching up", "last_sync", "a=never")},
			why:    "b has not finished its first sync (last sync: a=never)"},
		{name: "no leader", mode: "linearizable",
			selves: []peerInfo{p("a", "role", "follower", "applied_index", "3"), p("b", "role", "candidate", "applied_index", "3")},
			why:    "no leader elected yet"},
		{name: "leader sets the target", mode: "sequential",
			selves: []peerInfo{p("a", "role", "leader", "applied_index", "10", "behind", "2"), p("b", "role", "follower", "applied_index", "12")},
			why:    "a is catching up: applied index 10 of 12 (2 behind)", newTarget: 12},
		{name: "target kept from the first round", mode: "linearizable", target: 12,
			selves: []peerInfo{p("a", "role", "leader", "applied_index", "40", "behind", "0"), p("b", "role", "follower", "applied_index", "12")},
			ready:  true, why: "leader a; every peer has applied index 12", newTarget: 12},
		{name: "follower behind", mode: "linearizable", target: 12,
			selves: []peerInfo{p("a", "role", "leader", "applied_index", "12", "behind", "0"), p("c", "role", "follower", "applied_index", "5")},
			why:    "c is catching up: applied index 5 of 12 (7 behind)", newTarget: 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := readyWait{mode: tc.mode, target: tc.target, hasTarget: tc.target > 0}
			ready, why := w.check(tc.selves)
			assert.Equal(t, tc.ready, ready)
			assert.Equal(t, tc.why, why)
			if tc.mode != "eventual" && tc.newTarget > 0 {
				assert.Equal(t, tc.newTarget, w.target)
			}
		})
	}
}
