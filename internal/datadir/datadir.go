// Package datadir records which cluster, mode and peer a peer's data
// directory belongs to, refuses a start that would mix them, and resets it.
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/ini.v1"
)

// IdentityFile is the file inside a peer's data directory that names what
// the directory holds.
const IdentityFile = "memcons.id"

// ResetHint tells the operator how to start peer over on empty data.
func ResetHint(peer string) string {
	return fmt.Sprintf("run 'memcons reset --name %s' to erase this peer's data: it then rejoins empty and catches up from the other peers", peer)
}

// ErrMismatch reports a data directory that belongs to another cluster,
// mode or peer than the one starting.
var ErrMismatch = errors.New("data directory holds another cluster's data")

// ErrIdentity reports an identity file that cannot be read or written.
var ErrIdentity = errors.New("identity file")

// Identity is what a data directory belongs to.
type Identity struct {
	Cluster string // cluster name
	Mode    string // consistency mode
	Peer    string // peer name
}

func (id Identity) String() string {
	return fmt.Sprintf("cluster %q, mode %s, peer %s", id.Cluster, id.Mode, id.Peer)
}

// MismatchError is ErrMismatch with both identities.
type MismatchError struct {
	Dir  string
	Have Identity // what the directory holds
	Want Identity // what the start asked for
}

func (e *MismatchError) Error() string {
	if e.Have.Cluster == e.Want.Cluster && e.Have.Peer == e.Want.Peer {
		return fmt.Sprintf("data directory %s holds %s mode data, not %s: start in %s mode, or erase the data to switch: './startup.sh --reset --consistency %s' for the whole cluster, 'memcons reset --name %s' for this peer",
			e.Dir, e.Have.Mode, e.Want.Mode, e.Have.Mode, e.Want.Mode, e.Want.Peer)
	}
	return fmt.Sprintf("data directory %s holds %s, not %s: check data_dir and --name, or erase it with 'memcons reset --name %s'",
		e.Dir, e.Have, e.Want, e.Want.Peer)
}

// Unwrap makes errors.Is(err, ErrMismatch) hold.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// legacyMarkers are what each kind of mode leaves in a data directory
// written before identity files existed.
var legacyMarkers = map[string][]string{
	"raft":               {"linearizable", "sequential"},
	"eventual-sync.json": {"eventual"},
}

// Claim records id in dir on first start and returns nil; on a later start
// it returns a *MismatchError when dir records another identity. A
// directory written before identity files existed is claimed unless what it
// holds belongs to another kind of mode.
func Claim(dir string, id Identity) error {
	path := filepath.Join(dir, IdentityFile)
	have, err := read(path)
	switch {
	case err == nil:
		if have != id {
			return &MismatchError{Dir: dir, Have: have, Want: id}
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	for marker, modes := range legacyMarkers {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil && !slices.Contains(modes, id.Mode) {
			return &MismatchError{Dir: dir, Have: Identity{Cluster: "?", Mode: strings.Join(modes, " or "), Peer: id.Peer}, Want: id}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %w", ErrIdentity, dir, err)
	}
	return write(path, id)
}

// Reset removes dir and everything in it; a missing dir is not an error.
func Reset(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset %s: %w", dir, err)
	}
	return nil
}

// read parses an identity file of "key = value" lines (INI without
// sections, the format config.ini uses).
func read(path string) (Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Identity{}, err
		}
		return Identity{}, fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	f, err := ini.Load(b)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %w", ErrIdentity, path, err)
	}
	sec := f.Section("")
	id := Identity{Cluster: sec.Key("cluster").String(), Mode: sec.Key("mode").String(), Peer: sec.Key("peer").String()}
	if id.Cluster == "" || id.Mode == "" || id.Peer == "" {
		return Identity{}, fmt.Errorf("%w: %s: want cluster, mode and peer, got %s", ErrIdentity, path, id)
	}
	return id, nil
}

// write stores id at path atomically: a crash leaves the old file or the
// new one, never half of one.
func write(path string, id Identity) error {
	body := fmt.Sprintf("# written by memcons on this peer's first start; erase with memcons reset\ncluster = %s\nmode = %s\npeer = %s\n",
		id.Cluster, id.Mode, id.Peer)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	_, werr := f.WriteString(body)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%w: write %s: %w", ErrIdentity, tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
