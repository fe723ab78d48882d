package ordered

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger that sends raft's log lines to lg.
// hclog hands every line, with its fields as they were logged, to the
// registered sink; its own output is discarded. Once stopping reports true
// (nil: never), raft's errors are logged at Debug: they are the peer's own
// connections closing under it, or peers stopping along with it.
func newHCLogger(lg *slog.Logger, stopping func() bool) hclog.Logger {
	level := hclog.Info
	if lg.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "raft", Level: level, Output: io.Discard})
	l.RegisterSink(&slogSink{lg: lg, stopping: stopping})
	return l
}

// slogSink turns each hclog line into one slog record; the hclog logger's
// name becomes the module attribute.
type slogSink struct {
	lg       *slog.Logger
	stopping func() bool
}

func (s *slogSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	lv := slog.LevelInfo
	switch level {
	case hclog.Trace:
		return // below the Debug the logger is set to at most
	case hclog.Debug:
		lv = slog.LevelDebug
	case hclog.Warn:
		lv = slog.LevelWarn
	case hclog.Error:
		lv = slog.LevelError
		if s.stopping != nil && s.stopping() {
			lv = slog.LevelDebug
		}
	}
	if !s.lg.Enabled(context.Background(), lv) {
		return
	}
	attrs := append([]any{"module", name}, args...)
	for i, a := range attrs {
		// hclog.Fmt values are a format and its arguments, rendered late.
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				attrs[i] = fmt.Sprintf(format, f[1:]...)
			}
		}
	}
	s.lg.Log(context.Background(), lv, msg, attrs...)
}
