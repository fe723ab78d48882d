package ordered

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
)

func TestHCLogger_LinesReachSlog(t *testing.T) {
	tests := []struct {
		name     string
		stopping bool
		log      func(l hclog.Logger)
		want     string // "" = nothing logged
	}{
		{"info with fields", false, func(l hclog.Logger) { l.Info("hello", "n", 3) }, `level=INFO msg=hello module=raft n=3`},
		{"named sub-logger", false, func(l hclog.Logger) { l.Named("wal").Warn("slow") }, `level=WARN msg=slow module=raft.wal`},
		{"debug", false, func(l hclog.Logger) { l.Debug("dbg") }, `level=DEBUG msg=dbg module=raft`},
		{"error", false, func(l hclog.Logger) { l.Error("bad") }, `level=ERROR msg=bad module=raft`},
		{"error while stopping is debug", true, func(l hclog.Logger) { l.Error("conn closed") }, `level=DEBUG msg="conn closed" module=raft`},
		{"warn while stopping stays", true, func(l hclog.Logger) { l.Warn("w") }, `level=WARN msg=w module=raft`},
		{"trace is dropped", false, func(l hclog.Logger) { l.Trace("noise") }, ""},
		{"hclog.Fmt is rendered", false, func(l hclog.Logger) { l.Info("cfg", "servers", hclog.Fmt("%d peers", 3)) }, `servers="3 peers"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(newHCLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), func() bool { return tt.stopping }))
			if tt.want == "" {
				assert.Empty(t, buf.String())
				return
			}
			assert.Equal(t, 1, strings.Count(buf.String(), "\n"), "one record: %q", buf.String())
			assert.Contains(t, buf.String(), tt.want)
		})
	}
}
