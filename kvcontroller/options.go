package kvcontroller

import "github.com/memcons/memcons/internal/field"

// Bounds that the options' Validate methods enforce.
const (
	maxPipelineConns = 64
	maxMemStoreLimit = 1 << 40
)

// Validate reports every field of o that breaks its rule, as it is: a zero
// Timeout or PipelineConns is an error here (NewMemcachedStore sets zero
// fields to defaults first, and checks Addr itself). Each problem is a
// *field.Error matching ErrInvalidOptions.
func (o MemcachedOptions) Validate() error {
	v := field.NewChecker(ErrInvalidOptions, "kvcontroller.MemcachedOptions")
	field.Positive(v, "Timeout", o.Timeout)
	field.Between(v, "PipelineConns", o.PipelineConns, 1, maxPipelineConns)
	return v.Err()
}

// Validate reports whether LimitBytes is between 1 byte and 1 TiB, as a
// *field.Error matching ErrInvalidOptions; NewMemStore itself reads 0 or
// less as DefaultMemStoreLimit.
func (o MemStoreOptions) Validate() error {
	v := field.NewChecker(ErrInvalidOptions, "kvcontroller.MemStoreOptions")
	field.Between(v, "LimitBytes", o.LimitBytes, 1, maxMemStoreLimit)
	return v.Err()
}
