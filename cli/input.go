package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ergochat/readline"
)

// lineSource yields input lines: from a terminal with editing and history,
// or from a pipe.
type lineSource interface {
	// next returns the next line without its line end; io.EOF at the end,
	// errInterrupted when the user pressed Ctrl-C.
	next(prompt string) (string, error)
	// remember adds a command line to the history.
	remember(line string)
	// Close releases the source; it is safe to call more than once.
	Close() error
}

// errInterrupted reports Ctrl-C at the prompt: the line is dropped.
var errInterrupted = errors.New("interrupted")

// pipeSource reads lines from a non-terminal reader.
type pipeSource struct {
	r *bufio.Reader
}

func newPipeSource(r io.Reader) *pipeSource { return &pipeSource{r: bufio.NewReader(r)} }

func (p *pipeSource) next(string) (string, error) {
	line, err := p.r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", io.EOF
		}
		return "", fmt.Errorf("read input: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

func (p *pipeSource) remember(string) {}

func (p *pipeSource) Close() error { return nil }

// promptSource reads from a terminal through readline.
type promptSource struct {
	rl   *readline.Instance
	stop func() bool // ends the context watch
}

// newPromptSource starts readline; cancelling ctx closes it, which ends
// a ReadLine in progress.
func newPromptSource(ctx context.Context, cfg Config) (*promptSource, error) {
	history := cfg.HistoryFile
	if history != "" {
		if err := os.MkdirAll(filepath.Dir(history), 0o700); err != nil {
			fmt.Fprintf(cfg.errOut(), "warning: no history: %v\n", err)
			history = ""
		}
	}
	rlCfg := &readline.Config{
		HistoryFile:            history,
		DisableAutoSaveHistory: true,
		Stdin:                  cfg.In,
		Stdout:                 cfg.out(),
		Stderr:                 cfg.errOut(),
	}
	if cfg.In != os.Stdin {
		// Only the process's own terminal may be switched to raw mode;
		// any other reader is read as plain lines.
		rlCfg.FuncIsTerminal = func() bool { return false }
		// and no process-wide SIGWINCH watcher is needed.
		rlCfg.FuncOnWidthChanged = func(func()) {}
	}
	rl, err := readline.NewFromConfig(rlCfg)
	if err != nil {
		return nil, fmt.Errorf("start line editor: %w", err)
	}
	return &promptSource{rl: rl, stop: context.AfterFunc(ctx, func() { _ = rl.Close() })}, nil
}

func (p *promptSource) next(prompt string) (string, error) {
	p.rl.SetPrompt(prompt)
	line, err := p.rl.ReadLine()
	switch {
	case errors.Is(err, readline.ErrInterrupt):
		return "", errInterrupted
	case errors.Is(err, io.EOF):
		return "", io.EOF
	case err != nil:
		return "", fmt.Errorf("read input: %w", err)
	}
	return line, nil
}

func (p *promptSource) remember(line string) { _ = p.rl.SaveToHistory(line) }

func (p *promptSource) Close() error {
	p.stop()
	return p.rl.Close()
}
