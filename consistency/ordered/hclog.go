package ordered

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger that sends raft's log lines to lg:
// hclog writes JSON lines to a writer that turns each into one slog record.
func newHCLogger(lg *slog.Logger) hclog.Logger {
	level := hclog.Info
	if lg.Enabled(context.Background(), slog.LevelDebug) {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "raft",
		Level:      level,
		Output:     slogWriter{lg},
		JSONFormat: true,
	})
}

// slogWriter receives hclog's JSON lines.
type slogWriter struct{ lg *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		w.record(line)
	}
	return len(p), nil
}

func (w slogWriter) record(line string) {
	if line == "" {
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		w.lg.Info(line, "module", "raft")
		return
	}
	var level slog.Level
	switch m["@level"] {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := m["@message"].(string)
	module, _ := m["@module"].(string)
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 2+2*len(keys))
	attrs = append(attrs, "module", module)
	for _, k := range keys {
		attrs = append(attrs, k, m[k])
	}
	w.lg.Log(context.Background(), level, msg, attrs...)
}
