package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Run connects to cfg.Addr and executes commands from cfg.In until end of
// input, exit or quit, or ctx is cancelled. With cfg.Interactive it shows a
// prompt with line editing and history; otherwise it reads piped lines and
// returns an error wrapping ErrCommandFailed if any command failed.
func Run(ctx context.Context, cfg Config) error {
	if cfg.In == nil {
		return fmt.Errorf("%w: no input", ErrUsage)
	}
	c := newClient(cfg.Addr, cfg.timeout())
	defer c.Close()
	if err := c.connect(ctx); err != nil {
		return err
	}

	var src lineSource = newPipeSource(cfg.In)
	if cfg.Interactive {
		p, err := newPromptSource(ctx, cfg)
		if err != nil {
			return err
		}
		src = p
		fmt.Fprintf(cfg.out(), "connected to %s; type help for the commands\n", cfg.Addr)
	}
	defer src.Close()

	s := &session{cfg: cfg, client: c, src: src, out: cfg.out(), errOut: cfg.errOut()}
	if err := s.loop(ctx); err != nil {
		return err
	}
	if !cfg.Interactive && s.failed > 0 {
		return fmt.Errorf("%w: %d of %d commands failed", ErrCommandFailed, s.failed, s.total)
	}
	return nil
}

// session is the state of one Run.
type session struct {
	cfg    Config
	client *client
	src    lineSource
	out    io.Writer
	errOut io.Writer
	lineNo int // input lines read, for error messages of piped input
	total  int // commands executed
	failed int // commands that failed
}

// loop reads and executes commands until the input ends or exit.
func (s *session) loop(ctx context.Context) error {
	prompt := s.cfg.Addr + "> "
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := s.read(prompt)
		switch {
		case errors.Is(err, errInterrupted):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if strings.TrimSpace(line) != "" {
			s.src.remember(line) // typos too, to fix them with the arrow keys
		}
		cmd, err := parseCommand(line)
		if err != nil {
			s.total++
			s.fail(err)
			continue
		}
		if cmd.action == actExit {
			return nil
		}
		if err := s.execute(ctx, cmd); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.fail(err)
		}
	}
}

func (s *session) read(prompt string) (string, error) {
	line, err := s.src.next(prompt)
	if err == nil {
		s.lineNo++
	}
	return line, err
}

// execute runs one command and prints its reply. An error reply from the
// server counts as a failure but is printed, not returned.
func (s *session) execute(ctx context.Context, cmd command) error {
	switch cmd.action {
	case actNone:
		return nil
	case actHelp:
		_, err := io.WriteString(s.out, helpText)
		return err
	case actShow:
		s.total++
		info, err := fetchCluster(ctx, s.client)
		if err != nil {
			return err
		}
		return printCluster(s.out, info)
	}
	s.total++
	req := cmd.wire
	if cmd.dataLen >= 0 {
		data, err := s.read("data> ")
		if err != nil {
			return fmt.Errorf("%w: %s needs a data block of %d bytes on the next line: %w", ErrUsage, cmd.wire[:len(cmd.wire)-2], cmd.dataLen, err)
		}
		if len(data) != cmd.dataLen {
			return fmt.Errorf("%w: data block is %d bytes but the command says %d; not sent", ErrUsage, len(data), cmd.dataLen)
		}
		req += data + "\r\n"
	}
	if cmd.reply == replyMeta {
		req += "mn\r\n"
	}
	resp, err := s.client.do(ctx, req, cmd.reply)
	if err != nil {
		return err
	}
	if resp.failed() {
		s.failed++
	}
	return printResponse(s.out, cmd, resp)
}

// fail reports a failed command on the error output.
func (s *session) fail(err error) {
	s.failed++
	if s.cfg.Interactive {
		fmt.Fprintf(s.errOut, "error: %v\n", err)
		return
	}
	fmt.Fprintf(s.errOut, "line %d: error: %v\n", s.lineNo, err)
}
