package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultEvery is the time between progress lines that are not redrawn.
const DefaultEvery = time.Second

// liveRedraw is the time between redraws of a terminal's progress line.
const liveRedraw = 250 * time.Millisecond

// progressFormat lays out one progress report.
const progressFormat = "%6.1fs elapsed  %9.0f ops/s  %10d ops  %d errors"

// ProgressConfig says where and how Run reports while it measures. The
// zero value reports nothing.
type ProgressConfig struct {
	W io.Writer // where the lines go; nil: no progress
	// Live redraws one line with a carriage return (for a terminal);
	// otherwise each report is a line of its own.
	Live bool
	// Every is the time between reports; 0 means liveRedraw when Live,
	// DefaultEvery otherwise.
	Every time.Duration
}

func (c ProgressConfig) every() time.Duration {
	switch {
	case c.Every > 0:
		return c.Every
	case c.Live:
		return liveRedraw
	}
	return DefaultEvery
}

// progressLine is one report: the time since the measured phase began,
// the rate over the last interval, and the operations and errors so far.
func progressLine(elapsed time.Duration, ops, errs int64, rate float64) string {
	return fmt.Sprintf(progressFormat, elapsed.Seconds(), rate, ops, errs)
}

// progress reports the workers' counts until stopped.
type progress struct {
	cfg     ProgressConfig
	workers []*worker
	start   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
}

// startProgress begins reporting on workers, whose phase began at start;
// nil when cfg reports nothing.
func startProgress(cfg ProgressConfig, workers []*worker, start time.Time) *progress {
	if cfg.W == nil {
		return nil
	}
	p := &progress{cfg: cfg, workers: workers, start: start, stop: make(chan struct{})}
	p.wg.Go(p.loop)
	return p
}

func (p *progress) loop() {
	t := time.NewTicker(p.cfg.every())
	defer t.Stop()
	lastOps, lastAt := int64(0), p.start
	report := func(now time.Time) {
		ops, errs := p.counts()
		rate := 0.0
		if d := now.Sub(lastAt).Seconds(); d > 0 {
			rate = float64(ops-lastOps) / d
		}
		lastOps, lastAt = ops, now
		line := progressLine(now.Sub(p.start), ops, errs, rate)
		if p.cfg.Live {
			fmt.Fprintf(p.cfg.W, "\r%s\x1b[K", line)
		} else {
			fmt.Fprintln(p.cfg.W, line)
		}
	}
	for {
		select {
		case now := <-t.C:
			report(now)
		case <-p.stop:
			if p.cfg.Live {
				report(time.Now())
				fmt.Fprintln(p.cfg.W) // the table starts on a line of its own
			}
			return
		}
	}
}

// counts sums the operations and errors the workers did so far.
func (p *progress) counts() (ops, errs int64) {
	for _, w := range p.workers {
		ops += w.done.Load()
		errs += w.failed.Load()
	}
	return ops, errs
}

// end stops reporting and waits for the last line; nil does nothing.
func (p *progress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
}
