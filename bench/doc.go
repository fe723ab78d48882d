// Package bench is the memcons load generator: it runs many concurrent
// memcached-text-protocol connections doing a get/set mix against one or
// more peers and reports throughput and read and write latency percentiles.
//
// Each connection has one request outstanding at a time, like an ordinary
// client. The key space is filled before the measured phase, so a get
// misses only when something dropped the key. Operations that were cut off
// by the end of the run are not counted; every other operation is counted
// exactly once, as a hit, a miss, a stored set, or an error.
package bench
