package ordered

import (
	"sync"

	"github.com/hashicorp/raft"
)

// pipelineTransport is raft's network transport with its pipelined
// replication guarded against a deadlock of raft v1.8.0. Raft's
// pipelineDecode stops at the first failed or refused response (a
// connection that lost bytes, a follower whose log does not match), but
// the sender only notices once the pipeline closes, which raft does after
// the sender returns: meanwhile the transport's decoder blocks handing the
// next response to the stopped consumer, and the sender blocks on the full
// in-flight queue, so replication to that follower, and raft's Shutdown,
// stall for good. guardedPipeline closes the pipeline as soon as it
// hands raft a response at which raft's consumer stops.
type pipelineTransport struct {
	*raft.NetworkTransport
}

// AppendEntriesPipeline returns the transport's pipeline to target,
// guarded.
func (t pipelineTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return newGuardedPipeline(p), nil
}

// guardedPipeline relays the responses of a pipeline to raft and closes
// the pipeline after a response that ends raft's consumer. Its relay
// goroutine ends when it closes.
type guardedPipeline struct {
	inner raft.AppendPipeline
	out   chan raft.AppendFuture
	done  chan struct{}
	once  sync.Once
	err   error
}

func newGuardedPipeline(inner raft.AppendPipeline) *guardedPipeline {
	g := &guardedPipeline{inner: inner, out: make(chan raft.AppendFuture), done: make(chan struct{})}
	go g.relay()
	return g
}

// endsConsumer reports whether raft's pipelineDecode stops at f: a failed
// or refused append, or one answered in a newer term.
func endsConsumer(f raft.AppendFuture) bool {
	if f.Error() != nil {
		return true
	}
	resp, req := f.Response(), f.Request()
	return resp == nil || req == nil || !resp.Success || resp.Term > req.Term
}

func (g *guardedPipeline) relay() {
	in := g.inner.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-g.done:
			return
		}
		select {
		case g.out <- f:
		case <-g.done:
			return
		}
		if endsConsumer(f) {
			// Nobody takes the next response: unblock the sender.
			_ = g.Close()
			return
		}
	}
}

// AppendEntries sends one request down the pipeline.
func (g *guardedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	return g.inner.AppendEntries(args, resp)
}

// Consumer returns the channel of answered requests, in order.
func (g *guardedPipeline) Consumer() <-chan raft.AppendFuture { return g.out }

// Close closes the pipeline and its connection; safe to call twice.
func (g *guardedPipeline) Close() error {
	g.once.Do(func() {
		close(g.done)
		g.err = g.inner.Close()
	})
	return g.err
}
