// Package history records what concurrent memcache clients asked and were
// answered, and checks that record against what a consistency mode
// promises: linearizability (porcupine over a memcached key model),
// sequential consistency, and last-writer-wins convergence.
package history

import (
	"fmt"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// Kind is a client command that the model knows.
type Kind string

// The commands of the model; each works on one key.
const (
	Get    Kind = "get" // gets: value and cas unique
	Set    Kind = "set"
	Add    Kind = "add"
	Cas    Kind = "cas"
	Incr   Kind = "incr"
	Delete Kind = "delete"
)

// Replies of the model, in memcached's words; Number stands for incr's
// numeric reply, whose value is Output.Value.
const (
	Stored    = "STORED"
	NotStored = "NOT_STORED"
	Exists    = "EXISTS"
	NotFound  = "NOT_FOUND"
	Deleted   = "DELETED"
	Number    = "NUMBER"
)

// Input is one client command on one key. Workloads write a value no other
// command writes, so a value names the write that produced it.
type Input struct {
	Op       Kind
	Key      string
	Value    uint64 // set, add, cas: the value written
	Observed uint64 // cas: the value its gets saw together with the unique it sends
	Delta    uint64 // incr
}

// Output is what the peer answered.
type Output struct {
	// Unknown marks a command whose outcome the client never learned (the
	// connection died, or a SERVER_ERROR): it may or may not have taken
	// effect, at any time after its call.
	Unknown bool
	Reply   string // one of the reply constants; empty for get
	Found   bool   // get: the key was present
	Value   uint64 // get: the value read; incr: the new value
	Unique  uint64 // get: the cas unique
}

// Writes reports whether a command of kind k may change its key.
func (k Kind) Writes() bool { return k != Get }

// state is one key's state in the model.
type state struct {
	present bool
	value   uint64
}

// Model is a memcached key under porcupine, partitioned by key (a history is
// linearizable when each key's is). A cas matches exactly when the current
// value is the one its gets saw, since no two writes write the same value.
var Model = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return state{} },
	Step: func(st, input, output any) (bool, any) {
		return step(st.(state), input.(Input), output.(Output))
	},
	DescribeOperation: func(input, output any) string {
		return describe(input.(Input), output.(Output))
	},
	DescribeState: func(st any) string {
		s := st.(state)
		if !s.present {
			return "absent"
		}
		return strconv.FormatUint(s.value, 10)
	},
}

func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range ops {
		k := op.Input.(Input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// step applies in to s as memcached would and says whether out is a reply
// it could give.
func step(s state, in Input, out Output) (bool, state) {
	var reply string
	next := s
	switch in.Op {
	case Get:
		if out.Unknown {
			return true, s
		}
		return out.Found == s.present && (!s.present || out.Value == s.value), s
	case Set:
		reply, next = Stored, state{true, in.Value}
	case Add:
		if s.present {
			reply = NotStored
		} else {
			reply, next = Stored, state{true, in.Value}
		}
	case Cas:
		switch {
		case !s.present:
			reply = NotFound
		case s.value != in.Observed:
			reply = Exists
		default:
			reply, next = Stored, state{true, in.Value}
		}
	case Incr:
		if !s.present {
			reply = NotFound
		} else {
			reply, next = Number, state{true, s.value + in.Delta}
			if !out.Unknown && out.Reply == Number && out.Value != next.value {
				return false, s
			}
		}
	case Delete:
		if s.present {
			reply, next = Deleted, state{}
		} else {
			reply = NotFound
		}
	default:
		return false, s
	}
	return out.Unknown || out.Reply == reply, next
}

func describe(in Input, out Output) string {
	res := out.Reply
	switch {
	case out.Unknown:
		res = "unknown"
	case in.Op == Get && out.Found:
		res = fmt.Sprintf("%d (unique %d)", out.Value, out.Unique)
	case in.Op == Get:
		res = "miss"
	case in.Op == Incr && out.Reply == Number:
		res = strconv.FormatUint(out.Value, 10)
	}
	switch in.Op {
	case Set, Add:
		return fmt.Sprintf("%s(%s, %d) -> %s", in.Op, in.Key, in.Value, res)
	case Cas:
		return fmt.Sprintf("cas(%s, %d if %d) -> %s", in.Key, in.Value, in.Observed, res)
	case Incr:
		return fmt.Sprintf("incr(%s, %d) -> %s", in.Key, in.Delta, res)
	default:
		return fmt.Sprintf("%s(%s) -> %s", in.Op, in.Key, res)
	}
}
