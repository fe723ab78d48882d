package difftest

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// sentinel ends every batch: its reply (VERSION ...) is the last line of
// the batch's reply, so the reader knows where the reply ends. No value
// the generator makes holds a capital letter, so no value can look like
// it, and none is the line "version".
const sentinel = "version\r\n"

// replyTimeout bounds the wait for one batch's reply.
const replyTimeout = 20 * time.Second

// side is one server under test: a connection and the uniques it showed.
type side struct {
	name    string
	conn    net.Conn
	r       *bufio.Reader
	uniques map[string][]uint64 // per key, in the order seen
}

func dialSide(name, addr string) (*side, error) {
	c, err := net.DialTimeout("tcp", addr, replyTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s at %s: %w", name, addr, err)
	}
	return &side{name: name, conn: c, r: bufio.NewReaderSize(c, 1<<16), uniques: map[string][]uint64{}}, nil
}

func (s *side) close() { _ = s.conn.Close() }

var placeholder = regexp.MustCompile(`\{cas:([^:}]*):(-?\d+)\}`)

// fill replaces the cas placeholders of batch with this side's uniques.
func (s *side) fill(batch string) string {
	return placeholder.ReplaceAllStringFunc(batch, func(p string) string {
		m := placeholder.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[2])
		seen := s.uniques[m[1]]
		if n < 0 {
			n += len(seen)
		}
		if n < 0 || n >= len(seen) {
			return neverIssued
		}
		return strconv.FormatUint(seen[n], 10)
	})
}

// exchange sends batch and the sentinel in one write and returns the reply
// without the sentinel's line.
func (s *side) exchange(batch string) (string, error) {
	if err := s.conn.SetDeadline(time.Now().Add(replyTimeout)); err != nil {
		return "", err
	}
	if _, err := s.conn.Write([]byte(s.fill(batch) + sentinel)); err != nil {
		return "", fmt.Errorf("%s: write: %w", s.name, err)
	}
	// The batch's own version commands answer VERSION too: the sentinel's
	// is the one after theirs.
	versions := 1 + strings.Count("\n"+batch, "\nversion\r\n")
	var b strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), fmt.Errorf("%s: read after %q: %w", s.name, clip(b.String()), err)
		}
		if strings.HasPrefix(line, "VERSION ") && strings.HasSuffix(line, "\r\n") {
			if versions--; versions > 0 {
				continue
			}
			reply := strings.TrimSuffix(b.String(), line)
			learnUniques(reply, func(key string, u uint64) { s.uniques[key] = append(s.uniques[key], u) })
			return reply, nil
		}
	}
}

// Difference is a reply of memcons that differs from memcached's.
type Difference struct {
	Seq    Sequence // the batches sent, the differing one last
	Reason string
	Want   string // memcached's reply to the last batch
	Got    string // memcons's
}

// Error names the differing batch and the reason, with both replies and
// the last batches before it, each clipped; Format(d.Seq) is all of it.
func (d *Difference) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch %d differs: %s\nmemcached: %q\nmemcons:   %q\nthe last batches:\n", len(d.Seq)-1, d.Reason, clip(d.Want), clip(d.Got))
	for _, batch := range d.Seq[max(0, len(d.Seq)-5):] {
		fmt.Fprintf(&b, "  %q\n", clip(batch))
	}
	return b.String()
}

// Outage is a batch memcons refused because the cluster could not serve
// it (no leader, a timeout, a replica down): not a protocol difference,
// but what the batch did is unknown, so the rest of the sequence cannot be
// compared.
type Outage struct {
	Batch int
	Line  string // memcons's SERVER_ERROR line
}

func (o *Outage) Error() string { return fmt.Sprintf("batch %d: outage: %s", o.Batch, o.Line) }

// outageLines are the starts of memcons's SERVER_ERROR lines that say the
// cluster could not serve (controller/errors.go words them).
var outageLines = []string{
	"SERVER_ERROR no leader", "SERVER_ERROR timeout", "SERVER_ERROR replica unavailable",
	"SERVER_ERROR shutting down",
}

// outageIn returns the first line of reply that reports an outage.
func outageIn(reply string) (string, bool) {
	for _, line := range strings.Split(reply, "\r\n") {
		for _, o := range outageLines {
			if strings.HasPrefix(line, o) {
				return line, true
			}
		}
	}
	return "", false
}

// Run sends seq to memcached at ref and to memcons at got, batch by batch,
// and returns a *Difference at the first reply that differs, or an
// *Outage at the first memcons could not serve.
func Run(seq Sequence, ref, got string) error {
	want, err := dialSide("memcached", ref)
	if err != nil {
		return err
	}
	defer want.close()
	have, err := dialSide("memcons", got)
	if err != nil {
		return err
	}
	defer have.close()
	m := newUniqueMap()
	for i, batch := range seq {
		type result struct {
			reply string
			err   error
		}
		ch := make(chan result, 1)
		go func() {
			r, err := want.exchange(batch)
			ch <- result{r, err}
		}()
		g, gerr := have.exchange(batch)
		w := <-ch
		if w.err != nil {
			return fmt.Errorf("memcached: batch %d: %w", i, w.err)
		}
		var reason string
		switch {
		case gerr != nil:
			reason = gerr.Error()
		case isStatsBatch(batch):
			if err := compareStats(batch, w.reply, g); err != nil {
				reason = err.Error()
			}
		default:
			if err := compareReplies(w.reply, g, m); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			if line, ok := outageIn(g); ok {
				if _, also := outageIn(w.reply); !also {
					return &Outage{Batch: i, Line: line}
				}
			}
			if gerr == nil && counterQuirk(w.reply, g, m) && memcachedAgrees(seq[:i+1], ref, g) {
				return &Outage{Batch: i, Line: "memcached 1.6.18 refused a counter it counts on a replay"}
			}
			return &Difference{Seq: seq[:i+1], Reason: reason, Want: w.reply, Got: g}
		}
	}
	return nil
}

// isStatsBatch reports whether batch is one stats command alone, whose
// reply is compared by shape.
func isStatsBatch(batch string) bool {
	switch batch {
	case "stats\r\n", "stats items\r\n", "stats slabs\r\n":
		return true
	}
	return false
}

// Format writes seq in the corpus format: one Go-quoted batch a line.
func Format(seq Sequence) string {
	var b strings.Builder
	for _, batch := range seq {
		b.WriteString(strconv.Quote(batch))
		b.WriteByte('\n')
	}
	return b.String()
}

// repeat is the corpus's shorthand for a long run of one byte:
// {repeat:v:1048516} is 1048516 v's.
var repeat = regexp.MustCompile(`\{repeat:(.):(\d+)\}`)

// Parse reads a corpus file: one Go-quoted batch a line, in which
// {repeat:c:n} stands for n bytes c; blank lines and lines starting with #
// are comments.
func Parse(text string) (Sequence, error) {
	var seq Sequence
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		batch, err := strconv.Unquote(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		batch = repeat.ReplaceAllStringFunc(batch, func(r string) string {
			m := repeat.FindStringSubmatch(r)
			n, _ := strconv.Atoi(m[2])
			return strings.Repeat(m[1], n)
		})
		seq = append(seq, batch)
	}
	if len(seq) == 0 {
		return nil, errors.New("no batches")
	}
	return seq, nil
}

// nonNumeric is memcached's reply to incr, decr or ma on a value it does
// not read as a number.
const nonNumeric = "CLIENT_ERROR cannot increment or decrement non-numeric value"

// counterQuirk reports whether the first piece where want and got differ is
// memcached refusing a counter as non-numeric where memcons counted it.
// memcached 1.6.18's safe_strtoull, given a value of 2^63 or more, looks
// for a '-' with strchr past the end of the item's value, into whatever
// the slab chunk held before, so it refuses such a counter at random.
// Run takes it for memcached's difference only when a replay of the same
// sequence makes memcached answer as memcons did (memcachedAgrees); the
// sequence is then cut there and counted with the outages, which the test
// bounds.
func counterQuirk(want, got string, m *uniqueMap) bool {
	wp, wok := splitReply(want)
	gp, gok := splitReply(got)
	if !wok || !gok {
		return false
	}
	for i := range min(len(wp), len(gp)) {
		if comparePiece(wp[i], gp[i], m) == nil {
			continue
		}
		w, g := wp[i], gp[i]
		if w.data || g.data || w.text != nonNumeric {
			return false
		}
		if strings.HasPrefix(g.text, "HD") || strings.HasPrefix(g.text, "VA ") {
			return true // ma
		}
		_, err := strconv.ParseUint(g.text, 10, 64)
		return err == nil // incr, decr
	}
	return false
}

// memcachedAgrees replays seq (which starts with flush_all) against the
// memcached at ref, up to three times, and reports whether its reply to the
// last batch is then got, memcons's reply to it.
func memcachedAgrees(seq Sequence, ref, got string) bool {
	for range 3 {
		if replayMatches(seq, ref, got) {
			return true
		}
	}
	return false
}

func replayMatches(seq Sequence, ref, got string) bool {
	s, err := dialSide("memcached", ref)
	if err != nil {
		return false
	}
	defer s.close()
	var last string
	for _, batch := range seq {
		if last, err = s.exchange(batch); err != nil {
			return false
		}
	}
	return compareReplies(last, got, newUniqueMap()) == nil
}
