package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one Run. Every counted operation is exactly one
// of Hits, Misses, Sets, ReadErrors and WriteErrors.
type Report struct {
	Config  Config        // the configuration run, defaults filled in
	Prefill time.Duration // time taken to store the key space
	Elapsed time.Duration // length of the measured phase

	Ops         int64 // counted operations of the measured phase
	Hits        int64 // gets that found their key
	Misses      int64 // gets that did not
	Sets        int64 // sets answered STORED
	ReadErrors  int64 // gets that failed (error reply, IO error, timeout)
	WriteErrors int64 // sets that failed (any answer but STORED, IO error, timeout)
	FirstError  string

	Reads  Latency // successful gets
	Writes Latency // successful sets
}

// Latency summarises the latencies of one kind of operation.
type Latency struct {
	Count          int64
	Mean           time.Duration
	P50, P99, P999 time.Duration
	Min, Max       time.Duration
}

// summarize turns a histogram into a Latency.
func summarize(h *histogram) Latency {
	if h.total == 0 {
		return Latency{}
	}
	return Latency{
		Count: int64(h.total), Mean: h.mean(),
		P50: h.quantile(0.50), P99: h.quantile(0.99), P999: h.quantile(0.999),
		Min: time.Duration(h.min), Max: time.Duration(h.max),
	}
}

// add merges the workers' counters and histograms into r.
func (r *Report) add(workers []*worker) {
	var reads, writes histogram
	for _, w := range workers {
		reads.merge(&w.reads)
		writes.merge(&w.writes)
		r.Hits += w.hits
		r.Misses += w.misses
		r.Sets += w.sets
		r.ReadErrors += w.readErrs
		r.WriteErrors += w.writeErrs
		if r.FirstError == "" && w.firstErr != nil {
			r.FirstError = w.firstErr.Error()
		}
	}
	r.Ops = r.Hits + r.Misses + r.Sets + r.ReadErrors + r.WriteErrors
	r.Reads = summarize(&reads)
	r.Writes = summarize(&writes)
}

// Errors returns the number of failed operations.
func (r Report) Errors() int64 { return r.ReadErrors + r.WriteErrors }

// OpsPerSecond returns the throughput of the measured phase.
func (r Report) OpsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Print writes the report for a person to read.
func (r Report) Print(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "target     %s (%d connections)\n", strings.Join(c.Addrs, ", "), c.Conns)
	fmt.Fprintf(w, "workload   %d keys, %d-byte values, %s sets\n", c.Keys, c.ValueSize, percent(c.SetRatio))
	fmt.Fprintf(w, "prefill    %d keys in %s\n", c.Keys, round(r.Prefill))
	fmt.Fprintf(w, "ran        %s: %d ops, %.0f ops/s, %d errors\n\n", round(r.Elapsed), r.Ops, r.OpsPerSecond(), r.Errors())

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tops\tp50\tp99\tp99.9\tmax\tmean\terrors\t")
	row := func(name string, l Latency, errs int64) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t\n", name, l.Count+errs,
			latency(l.P50), latency(l.P99), latency(l.P999), latency(l.Max), latency(l.Mean), errs)
	}
	row("reads", r.Reads, r.ReadErrors)
	row("writes", r.Writes, r.WriteErrors)
	_ = tw.Flush()
	fmt.Fprintf(w, "\nreads      %d hits, %d misses\n", r.Hits, r.Misses)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

func percent(f float64) string {
	return strconv.FormatFloat(f*100, 'g', 4, 64) + "%"
}

func round(d time.Duration) time.Duration {
	return d.Round(time.Millisecond)
}

// latency shows a latency with three significant digits ("87µs", "1.24ms").
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
}
