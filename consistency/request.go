package consistency

import "github.com/memcons/memcons/kvcontroller"

// Op is one operation a consistency mode executes. The controller's command
// table maps the command words clients send to ops; this package knows ops
// only.
type Op uint8

// The operations a Mode executes. Commands the controller answers itself
// (version, verbosity, stats, quit) never reach a Mode. The values are
// written to the replicated log (ordered mode's command encoding), so a new
// op is added at the end and none is renumbered.
const (
	OpGet Op = iota + 1
	OpGets
	OpGat
	OpGats
	OpSet
	OpAdd
	OpReplace
	OpAppend
	OpPrepend
	OpCas
	OpDelete
	OpIncr
	OpDecr
	OpTouch
	OpFlushAll
	// OpMetaGet is mg: a read, or a write when it touches (T), vivifies
	// (N), may win a recache (R) or fetches a stale item (see MetaArgs).
	OpMetaGet
	// OpMetaSet is ms in any of its modes (MetaArgs.Mode).
	OpMetaSet
	// OpMetaDelete is md: a delete, or marking the item stale (I).
	OpMetaDelete
	// OpMetaArithmetic is ma: incr or decr, optionally creating the item.
	OpMetaArithmetic
)

// opNames are the ops' names in errors (which reach clients as
// SERVER_ERROR text) and logs: the word of the classic command that asks for
// the op. String is their only reader; the command table does not use them.
var opNames = [...]string{
	OpGet: "get", OpGets: "gets", OpGat: "gat", OpGats: "gats",
	OpSet: "set", OpAdd: "add", OpReplace: "replace", OpAppend: "append",
	OpPrepend: "prepend", OpCas: "cas", OpDelete: "delete", OpIncr: "incr",
	OpDecr: "decr", OpTouch: "touch", OpFlushAll: "flush_all",
	OpMetaGet: "mg", OpMetaSet: "ms", OpMetaDelete: "md", OpMetaArithmetic: "ma",
}

// String returns op's name for errors and logs.
func (op Op) String() string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return "unknown"
}

// IsRead reports whether op only reads (gat and gats also write expiry;
// mg may write, see MetaArgs.Writes).
func (op Op) IsRead() bool { return op == OpGet || op == OpGets }

// IsMeta reports whether op is one of the meta commands mg, ms, md, ma.
func (op Op) IsMeta() bool { return op >= OpMetaGet && op <= OpMetaArithmetic }

// Request is one parsed client command, as the controller hands it to a Mode.
type Request struct {
	Op Op
	// Keys holds one key for every command but get/gets/gat/gats, which may
	// have many, and flush_all, which has none.
	Keys []string
	// Value is the data block of a storage command.
	Value []byte
	// Flags are the client flags of a storage command.
	Flags uint32
	// Exptime is the expiry as the client sent it (relative seconds up to 30
	// days, else absolute unix seconds; negative means already expired). For
	// flush_all it is the delay.
	Exptime int64
	// Cas is the unique given to the cas command.
	Cas uint64
	// Delta is the amount of incr/decr (and of ma).
	Delta uint64
	// Meta holds the options of a meta command (Op.IsMeta); zero otherwise.
	Meta MetaArgs
}

// Status is the outcome of a request that did not fail.
type Status uint8

// The outcomes, each named after the memcached reply line it produces.
const (
	StatusNone      Status = iota // retrieval: the reply is Result.Items then END
	StatusStored                  // STORED
	StatusNotStored               // NOT_STORED
	StatusExists                  // EXISTS
	StatusNotFound                // NOT_FOUND
	StatusDeleted                 // DELETED
	StatusTouched                 // TOUCHED
	StatusOK                      // OK
	StatusNumber                  // the incr/decr result in Result.Number
)

// Item is one hit of a retrieval: what the reply to get, gets, gat or gats
// shows of it.
type Item struct {
	Key     string
	Value   []byte
	Flags   uint32 // the client's opaque flags
	Exptime int64  // absolute expiry in unix seconds; 0 means never
	Version uint64 // the version that wrote it: the CAS unique unless HasCas
	Stale   bool   // invalidated by md I or ms I (mg's X)
	WinSent bool   // a recache win was handed out (mg's Z)
	// KeyBinary marks a key stored by ms with b, shown base64 encoded.
	KeyBinary bool
	// Cas is the unique a client chose with E, when HasCas is set.
	Cas    uint64
	HasCas bool
}

// Unique returns the CAS unique clients see and compare (gets, cas, the
// meta commands' c and C), by kvcontroller.Item's rule.
func (it *Item) Unique() uint64 { return kvcontroller.UniqueOf(it.Version, it.Cas, it.HasCas) }

// HitOf returns the retrieval hit for a stored item.
func HitOf(it kvcontroller.Item) Item {
	return Item{Key: it.Key, Value: it.Value, Flags: it.Flags, Exptime: it.Exptime, Version: it.Version,
		Stale: it.Stale, WinSent: it.WinSent, KeyBinary: it.KeyBinary, Cas: it.Cas, HasCas: it.HasCas}
}

// Stored returns the stored item a hit came from (HitOf's inverse; the
// registers eventual mode keeps beside the value are not in a hit).
func (it *Item) Stored() kvcontroller.Item {
	return kvcontroller.Item{Key: it.Key, Value: it.Value, Flags: it.Flags, Exptime: it.Exptime, Version: it.Version,
		Stale: it.Stale, WinSent: it.WinSent, KeyBinary: it.KeyBinary, Cas: it.Cas, HasCas: it.HasCas}
}

// Result is the answer to a Request.
type Result struct {
	Status Status
	// Items are the hits of a retrieval, in request order, tombstones removed.
	Items []Item
	// Number is the new value after incr/decr (ma's value).
	Number uint64
	// Meta is what a meta command's reply reports beyond Items.
	Meta MetaOutcome
	// InPlace is, for an incr/decr written in place (memcached keeps the
	// item, its fetched mark and access time), the version it replaced;
	// 0 otherwise.
	InPlace uint64
}
