// Package crashtest runs memcons peers as real processes (the built
// binary's `serve` subcommand) over real memcached replicas, kills and
// restarts them, and cuts the links between them, for end-to-end tests of
// what survives a crash.
//
// Its tests skip without memcached unless MEMCONS_REQUIRE_MEMCACHED is set,
// and read these environment variables:
//
//	MEMCONS_CRASHTEST_SEED    random seed of the nemesis and the clients (default 1)
//	MEMCONS_CRASHTEST_DIR     where each test's configs, data and logs go (default /dev/shm)
//	MEMCONS_CRASHTEST_KEEP    keep them even when the test passes
//	MEMCONS_CRASHTEST_RACE    1 or 0: build the peers with or without -race (default: as the tests)
//	MEMCONS_CRASHTEST_BINARY  test this memcons executable instead of building one
package crashtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// Options configures a cluster.
type Options struct {
	// Binary is the memcons executable.
	Binary string
	// Dir holds the configs, data directories and logs; it outlives the
	// cluster, so a failing test can leave it for the developer.
	Dir string
	// Mode is linearizable, sequential or eventual.
	Mode string
	// Settings are extra [cluster] keys, overriding the defaults below.
	Settings map[string]string
}

// defaultSettings are the [cluster] keys a test cluster runs with: short
// timeouts so failover takes about a second, and snapshots often enough
// that restarts restore them.
var defaultSettings = map[string]string{
	"name":               "crashtest",
	"secret":             "crashtest-secret",
	"heartbeat_interval": "200ms",
	"heartbeat_timeout":  "1s",
	"item_size_max":      "64k",
	"store":              "memcached",
	"store_timeout":      "2s",
	"election_timeout":   "1s",
	"leader_wait":        "3s",
	"request_timeout":    "5s",
	"snapshot_threshold": "256",
	"snapshot_interval":  "1s",
	"sync_interval":      "250ms",
}

// peerNames are the names of the three peers.
var peerNames = []string{"peer1", "peer2", "peer3"}

// Cluster is three memcons peer processes, each with its own memcached,
// whose peer links all go through proxies a test can cut. Every peer
// dials the others through its own proxies, so cutting peer i's proxies
// and the others' proxies to it isolates i while it keeps running.
type Cluster struct {
	t     testing.TB
	opts  Options
	peers []*Peer
	// links[i][j] carries peer i's connections to peer j (nil for i == j).
	links [][]*Proxy
}

// Peer is one peer process, restartable on the same data directory.
type Peer struct {
	Name        string
	ClientAddr  string
	PeerAddr    string
	ReplicaAddr string
	Config      string // its config file
	Log         string // stdout and stderr of every run, appended

	bin string

	mu     sync.Mutex // guards cmd, done, starts, killed
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current run has exited
	exit   error         // the current run's exit, once done is closed
	starts int
	killed bool // the current run was killed by the test
}

// Start starts memcached replicas, the proxies and three peers, and waits
// until every peer serves clients.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	n := len(peerNames)
	addrs := freeAddrs(t, 2*n)
	for i, name := range peerNames {
		// -I 2m: the envelope makes an item slightly larger than its value.
		replica := memcachedtest.Start(t, "-I", "2m")
		c.peers = append(c.peers, &Peer{
			Name: name, ClientAddr: addrs[2*i], PeerAddr: addrs[2*i+1], ReplicaAddr: replica,
			Config: filepath.Join(opts.Dir, name+".ini"),
			Log:    filepath.Join(opts.Dir, "logs", name+".log"),
			bin:    opts.Binary,
		})
	}
	c.links = make([][]*Proxy, n)
	for i := range n {
		c.links[i] = make([]*Proxy, n)
		for j := range n {
			if i == j {
				continue
			}
			p, err := NewProxy(c.peers[j].PeerAddr)
			if err != nil {
				t.Fatalf("proxy %s -> %s: %v", peerNames[i], peerNames[j], err)
			}
			c.links[i][j] = p
		}
	}
	t.Cleanup(c.stop)
	for _, d := range []string{"logs", "data"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.peers {
		if err := os.WriteFile(c.peers[i].Config, c.config(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.peers {
		c.Launch(i)
	}
	for i := range c.peers {
		c.WaitServing(i, startLimit)
	}
	return c
}

// startLimit bounds how long a peer may take from launch to serving; a
// restarted ordered peer waits up to leader_wait to catch up first.
const startLimit = 30 * time.Second

// config renders peer i's config file: its own peer_addr is real, the
// others' are its proxies to them.
func (c *Cluster) config(i int) []byte {
	settings := map[string]string{}
	for k, v := range defaultSettings {
		settings[k] = v
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	settings["mode"] = c.opts.Mode
	settings["peers"] = strings.Join(peerNames, ", ")
	settings["data_dir"] = filepath.Join(c.opts.Dir, "data")
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	fmt.Fprintf(&b, "; written by internal/crashtest for %s\n[cluster]\n", peerNames[i])
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	for j, p := range c.peers {
		peerAddr := p.PeerAddr
		if j != i {
			peerAddr = c.links[i][j].Addr()
		}
		fmt.Fprintf(&b, "\n[%s]\nclient_addr = %s\npeer_addr = %s\nreplica_addr = %s\n",
			p.Name, p.ClientAddr, peerAddr, p.ReplicaAddr)
	}
	return b.Bytes()
}

// Peer returns peer i.
func (c *Cluster) Peer(i int) *Peer { return c.peers[i] }

// Size returns the number of peers.
func (c *Cluster) Size() int { return len(c.peers) }

// Launch starts peer i's process; it fails the test if the peer is
// running.
func (c *Cluster) Launch(i int) {
	c.t.Helper()
	if err := c.peers[i].launch(); err != nil {
		c.t.Fatalf("start %s: %v", c.peers[i].Name, err)
	}
}

func (p *Peer) launch() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is running", p.Name)
		}
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "==== crashtest: run %d of %s, started %s ====\n", p.starts, p.Name, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(p.bin, "serve", "--config", p.Config, "--name", p.Name)
	cmd.Env = peerEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return err
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed, p.exit = cmd, done, false, nil
	go func() {
		err := cmd.Wait()
		_ = f.Close()
		p.mu.Lock()
		p.exit = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// peerEnv is the test's environment without MEMCONS_ variables, which
// would override the config file.
func peerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEMCONS_") {
			env = append(env, kv)
		}
	}
	return env
}

// Running reports whether peer i's process is alive.
func (c *Cluster) Running(i int) bool {
	p := c.peers[i]
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// KillAll sends SIGKILL to every peer of idx at once, then waits until
// they have exited.
func (c *Cluster) KillAll(idx []int) {
	c.t.Helper()
	var victims []*Peer
	var cmds []*exec.Cmd
	var dones []chan struct{}
	for _, i := range idx {
		p := c.peers[i]
		p.mu.Lock()
		p.killed = true
		if p.cmd != nil {
			victims, cmds, dones = append(victims, p), append(cmds, p.cmd), append(dones, p.done)
		}
		p.mu.Unlock()
	}
	for _, cmd := range cmds {
		_ = cmd.Process.Signal(syscall.SIGKILL)
	}
	for k, done := range dones {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.t.Fatalf("%s (pid %d) did not exit 10s after SIGKILL", victims[k].Name, cmds[k].Process.Pid)
		}
	}
}

// Restart launches peer i again on its data directory and waits until it
// serves clients.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.Launch(i)
	c.WaitServing(i, startLimit)
}

// WaitServing waits until peer i answers on its client port. A peer that
// exits first, or does not serve within limit, fails the test with the
// end of its log.
func (c *Cluster) WaitServing(i int, limit time.Duration) {
	c.t.Helper()
	p := c.peers[i]
	deadline := time.Now().Add(limit)
	for {
		if !c.Running(i) {
			c.t.Fatalf("%s exited while starting (%v); last lines of %s:\n%s", p.Name, p.exitErr(), p.Log, p.Tail(40))
		}
		if conn, err := memcachedtest.Dial(p.ClientAddr, time.Second); err == nil {
			_, err = conn.Simple("version")
			_ = conn.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			c.fatalf("%s did not serve on %s within %v; last lines of %s:\n%s", p.Name, p.ClientAddr, limit, p.Log, p.Tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *Peer) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// CheckAlive fails the test for every peer that exited without being
// killed by the test, and checks the logs (CheckLogs).
func (c *Cluster) CheckAlive() {
	c.t.Helper()
	c.CheckLogs()
	c.reportExits()
}

// fatalf fails the test at once, first reporting any peer that exited on
// its own, the likely cause.
func (c *Cluster) fatalf(format string, args ...any) {
	c.t.Helper()
	c.reportExits()
	c.t.Fatalf(format, args...)
}

func (c *Cluster) reportExits() {
	c.t.Helper()
	for i, p := range c.peers {
		p.mu.Lock()
		killed := p.killed
		p.mu.Unlock()
		if !killed && !c.Running(i) {
			c.t.Errorf("%s exited on its own (%v); last lines of %s:\n%s", p.Name, p.exitErr(), p.Log, p.Tail(40))
		}
	}
}

// CheckLogs fails the test for every peer whose log reports a data race
// (peers built with -race) or a panic.
func (c *Cluster) CheckLogs() {
	c.t.Helper()
	for _, p := range c.peers {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			c.t.Errorf("%s: %v", p.Name, err)
			continue
		}
		for _, marker := range []string{"WARNING: DATA RACE", "panic: "} {
			if i := bytes.Index(b, []byte(marker)); i >= 0 {
				end := min(len(b), i+4000)
				c.t.Errorf("%s's log %s reports %q:\n%s", p.Name, p.Log, marker, b[i:end])
			}
		}
	}
}

// Tail returns the last n lines of the peer's log.
func (p *Peer) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Cut isolates peer i from the others: every link between them closes and
// refuses new connections; peer i keeps running.
func (c *Cluster) Cut(i int) {
	for j := range c.peers {
		if j != i {
			c.links[i][j].Cut()
			c.links[j][i].Cut()
		}
	}
}

// Heal undoes Cut(i).
func (c *Cluster) Heal(i int) {
	for j := range c.peers {
		if j != i {
			c.links[i][j].Heal()
			c.links[j][i].Heal()
		}
	}
}

// Status is what a peer's `stats cluster` says about itself.
type Status struct {
	Role   string // leader, follower, candidate (ordered); peer, catching up (eventual)
	Leader string // the leader it knows (ordered), "" if none
	Term   uint64
	Up     int // peers it hears, itself included
	Stats  map[string]string
}

// Status asks peer i about itself.
func (c *Cluster) Status(i int) (Status, error) {
	conn, err := memcachedtest.Dial(c.peers[i].ClientAddr, 2*time.Second)
	if err != nil {
		return Status{}, err
	}
	defer conn.Close()
	st, err := conn.Stats("cluster")
	if err != nil {
		return Status{}, err
	}
	self := st["self"]
	s := Status{Role: st["peer:"+self+":role"], Stats: st}
	if l := st["peer:"+self+":leader"]; l != "-" {
		s.Leader = l
	}
	s.Term, _ = strconv.ParseUint(st["peer:"+self+":term"], 10, 64)
	for _, n := range peerNames {
		if v := st["peer:"+n+":state"]; v == "up" || v == "self" {
			s.Up++
		}
	}
	return s, nil
}

// WaitLeader waits until one peer of among leads and the others of among
// follow it, within limit, and returns it; it fails the test otherwise.
func (c *Cluster) WaitLeader(among []int, limit time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if l := c.agreedLeader(among); l >= 0 {
			return l
		}
		if time.Now().After(deadline) {
			c.fatalf("no leader among %v within %v", c.names(among), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// agreedLeader returns the peer of among that leads while every other one
// of among follows it, or -1.
func (c *Cluster) agreedLeader(among []int) int {
	leader := -1
	var follows []string
	for _, i := range among {
		s, err := c.Status(i)
		if err != nil {
			return -1
		}
		if s.Role == "leader" {
			if leader >= 0 {
				return -1
			}
			leader = i
		}
		follows = append(follows, s.Leader)
	}
	if leader < 0 {
		return -1
	}
	for _, f := range follows {
		if f != peerNames[leader] {
			return -1
		}
	}
	return leader
}

// WaitAllUp waits until every peer hears every other one, within limit.
func (c *Cluster) WaitAllUp(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		all := true
		for i := range c.peers {
			if s, err := c.Status(i); err != nil || s.Up != len(c.peers) {
				all = false
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			c.fatalf("the peers did not all see each other up within %v", limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) names(idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, peerNames[i])
	}
	return out
}

// All returns the indexes of every peer.
func (c *Cluster) All() []int {
	out := make([]int, len(c.peers))
	for i := range out {
		out[i] = i
	}
	return out
}

// stop kills every peer still running and closes the proxies.
func (c *Cluster) stop() {
	for i, p := range c.peers {
		p.mu.Lock()
		cmd, done := p.cmd, p.done
		p.killed = true
		p.mu.Unlock()
		if cmd != nil && c.Running(i) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
	for _, row := range c.links {
		for _, p := range row {
			if p != nil {
				p.Close()
			}
		}
	}
}

// freeAddrs returns n distinct free loopback addresses whose ports lie
// below the kernel's ephemeral range, so that while a killed peer is down
// no outgoing connection of another process can take its port.
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	low := ephemeralLow()
	if low < 12000 {
		return memcachedtest.FreeAddrs(t, n)
	}
	var out []string
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("no free port below %d after 1000 tries", low)
		}
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		out = append(out, l.Addr().String())
	}
	return out
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or
// 0 when it is unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, _ := strconv.Atoi(f[0])
	return low
}
