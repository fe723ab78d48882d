package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// shutdownTimeout bounds how long a listener being replaced or closed
// waits for the scrapes it is answering.
const shutdownTimeout = 2 * time.Second

// readHeaderTimeout bounds a scraper's request headers.
const readHeaderTimeout = 5 * time.Second

// HTTPServer serves /metrics (and /debug/pprof/ when enabled) on an
// address that SetAddr may change while the peer runs; no address means
// not listening. Its methods are safe for concurrent use.
type HTTPServer struct {
	handler http.Handler
	pprof   atomic.Bool
	log     *slog.Logger

	mu     sync.Mutex // guards the fields below and serialises SetAddr
	addr   string     // as configured; "" when off
	srv    *http.Server
	ln     net.Listener
	done   chan struct{} // closed when srv's Serve returns
	closed bool
}

// NewHTTPServer returns a server of reg's metrics, not yet listening;
// pprof enables /debug/pprof/. log may be nil.
func NewHTTPServer(reg *prometheus.Registry, pprofOn bool, log *slog.Logger) *HTTPServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &HTTPServer{log: log}
	h.pprof.Store(pprofOn)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:      reg, // counts its own errors in promhttp_metric_handler_errors_total
		ErrorHandling: promhttp.ContinueOnError,
	}))
	debug := http.NewServeMux()
	debug.HandleFunc("/debug/pprof/", pprof.Index)
	debug.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	debug.HandleFunc("/debug/pprof/profile", pprof.Profile)
	debug.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	debug.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if !h.pprof.Load() {
			http.Error(w, "pprof is off: set pprof = on", http.StatusNotFound)
			return
		}
		debug.ServeHTTP(w, r)
	})
	h.handler = mux
	return h
}

// SetPprof turns /debug/pprof/ on or off.
func (h *HTTPServer) SetPprof(on bool) { h.pprof.Store(on) }

// SetAddr makes the server listen on addr: "" stops it, the address it
// already has does nothing, and another one is bound first and only then
// replaces the old listener, so a bad address returns an error and leaves
// the server serving where it was.
func (h *HTTPServer) SetAddr(addr string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("metrics server closed")
	}
	if addr == h.addr {
		return nil
	}
	var ln net.Listener
	if addr != "" {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil && errors.Is(err, syscall.EADDRINUSE) && h.ln != nil {
			// Likely the same port on another host form (0.0.0.0 for
			// 127.0.0.1): free it, and take the old address back if the
			// new one still cannot be bound.
			old := h.addr
			h.stopLocked()
			if ln, err = net.Listen("tcp", addr); err != nil {
				if back, berr := net.Listen("tcp", old); berr == nil {
					h.serveLocked(back)
				} else {
					h.addr = ""
				}
				return fmt.Errorf("metrics address %s: %w", addr, err)
			}
		}
		if err != nil {
			return fmt.Errorf("metrics address %s: %w", addr, err)
		}
	}
	h.stopLocked()
	h.addr = addr
	if ln != nil {
		h.serveLocked(ln)
	}
	return nil
}

// serveLocked serves on ln until stopLocked.
func (h *HTTPServer) serveLocked(ln net.Listener) {
	srv := &http.Server{Handler: h.handler, ReadHeaderTimeout: readHeaderTimeout}
	done := make(chan struct{})
	h.srv, h.ln, h.done = srv, ln, done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Warn("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	h.log.Info("serving metrics", "addr", ln.Addr().String(), "pprof", h.pprof.Load())
}

// Addr returns the address being listened on (the bound port when the
// configured one was 0), or "" when off.
func (h *HTTPServer) Addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

// Close stops listening and waits for the serving goroutine; later
// SetAddr calls fail. It is safe to call twice.
func (h *HTTPServer) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.stopLocked()
	return nil
}

// stopLocked shuts the current listener down, letting scrapes in progress
// finish for up to shutdownTimeout, and waits for its goroutine.
func (h *HTTPServer) stopLocked() {
	if h.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		_ = h.srv.Close()
	}
	<-h.done
	h.srv, h.ln, h.done = nil, nil, nil
}
