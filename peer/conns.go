package peer

import (
	"net"
	"sync"
)

// ConnSet tracks live connections so that an owner's Close can close them
// all, including ones still being set up by another goroutine. The zero
// value is ready to use.
type ConnSet struct {
	mu     sync.Mutex // guards closed and m
	closed bool
	m      map[net.Conn]struct{}
}

// Add tracks c and reports true, or reports false once CloseAll has run;
// the caller then owns c and must close it.
func (s *ConnSet) Add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.m == nil {
		s.m = make(map[net.Conn]struct{})
	}
	s.m[c] = struct{}{}
	return true
}

// Remove stops tracking c; it does not close it.
func (s *ConnSet) Remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

// CloseAll closes every tracked connection and refuses later adds.
func (s *ConnSet) CloseAll() {
	s.mu.Lock()
	s.closed = true
	conns := s.m
	s.m = nil
	s.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}
