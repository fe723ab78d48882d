// Package field reports the fields of a configuration struct that break
// their rules, by Go name, so that each caller can name a field the way its
// own user wrote it (package main turns eventual.Config.PushDelay into
// cluster.push_delay).
package field

import (
	"cmp"
	"errors"
	"fmt"
)

// Ref names another field of the same struct inside a rule, e.g. the
// SyncInterval that PushDelay must not exceed. It prints as its Go name
// unless Error.Rule is given a namer.
type Ref string

// Error is one field of a configuration struct that breaks a rule.
type Error struct {
	// Err is the sentinel of the package that holds the rule (its
	// ErrInvalidConfig); errors.Is matches it.
	Err error
	// Struct is the package-qualified name of the struct: "eventual.Config".
	Struct string
	// Field is the field's Go name, with an element in brackets:
	// "PushDelay", "Peers[b]", "Peers[3].Name".
	Field string

	format string
	args   []any
}

// Path returns Struct.Field, e.g. "eventual.Config.PushDelay".
func (e *Error) Path() string { return e.Struct + "." + e.Field }

// Error returns the sentinel, the field and its rule on one line:
// "invalid eventual mode config: PushDelay must be at most SyncInterval (1s), got 2s".
func (e *Error) Error() string { return fmt.Sprintf("%v: %s %s", e.Err, e.Field, e.Rule(nil)) }

// Unwrap returns the package's sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Rule returns the rule Field breaks, e.g. "must be at most SyncInterval
// (1s), got 2s". name, when not nil, renders each other field the rule
// names, given its path (Struct.Field); nil keeps the Go names.
func (e *Error) Rule(name func(path string) string) string {
	args := make([]any, len(e.args))
	for i, a := range e.args {
		if r, ok := a.(Ref); ok {
			a = string(r)
			if name != nil {
				a = name(e.Struct + "." + string(r))
			}
		}
		args[i] = a
	}
	return fmt.Sprintf(e.format, args...)
}

// Refs returns the paths of the other fields the rule names.
func (e *Error) Refs() []string {
	var paths []string
	for _, a := range e.args {
		if r, ok := a.(Ref); ok {
			paths = append(paths, e.Struct+"."+string(r))
		}
	}
	return paths
}

// All returns every *Error inside err, in order, looking through
// errors.Join and %w wrapping, and whatever else err holds (rest), so that
// a caller can tell a field's problem from any other failure.
func All(err error) (fields []*Error, rest []error) {
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
		case *Error:
			fields = append(fields, x)
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		default:
			if inner := errors.Unwrap(err); inner != nil && hasField(inner) {
				walk(inner)
				return
			}
			rest = append(rest, err)
		}
	}
	walk(err)
	return fields, rest
}

// hasField reports whether an *Error is anywhere inside err; errors.As
// looks through errors.Join and %w wrapping alike.
func hasField(err error) bool {
	var fe *Error
	return errors.As(err, &fe)
}

// Checker collects the fields of one struct that break their rules; its
// Err joins them, one line each.
type Checker struct {
	err    error
	strct  string
	errs   []error
	failed map[string]bool
}

// NewChecker returns a Checker for the struct named strct ("eventual.Config")
// whose problems match err (the package's ErrInvalidConfig).
func NewChecker(err error, strct string) *Checker {
	return &Checker{err: err, strct: strct, failed: map[string]bool{}}
}

// Failf records that field breaks the rule format describes; args of type
// Ref name other fields of the same struct.
func (c *Checker) Failf(field, format string, args ...any) {
	c.failed[field] = true
	c.errs = append(c.errs, &Error{Err: c.err, Struct: c.strct, Field: field, format: format, args: args})
}

// Failed reports whether any of fields already broke a rule; a rule that
// compares two fields is checked only when neither did.
func (c *Checker) Failed(fields ...string) bool {
	for _, f := range fields {
		if c.failed[f] {
			return true
		}
	}
	return false
}

// Err returns every recorded problem, joined in the order found, or nil.
func (c *Checker) Err() error { return errors.Join(c.errs...) }

// NotEmpty checks that the string field v is not empty.
func NotEmpty(c *Checker, field, v string) {
	if v == "" {
		c.Failf(field, "must not be empty")
	}
}

// MaxLen checks that the string field v is at most n bytes long.
func MaxLen(c *Checker, field, v string, n int) {
	if len(v) > n {
		c.Failf(field, "must be at most %d bytes, got %d", n, len(v))
	}
}

// Positive checks that v is above zero.
func Positive[T cmp.Ordered](c *Checker, field string, v T) {
	var zero T
	if v <= zero {
		c.Failf(field, "must be positive, got %v", v)
	}
}

// NotNegative checks that v is zero or more.
func NotNegative[T cmp.Ordered](c *Checker, field string, v T) {
	var zero T
	if v < zero {
		c.Failf(field, "must not be negative, got %v", v)
	}
}

// AtLeast checks that v is lo or more.
func AtLeast[T cmp.Ordered](c *Checker, field string, v, lo T) {
	if v < lo {
		c.Failf(field, "must be at least %v, got %v", lo, v)
	}
}

// Between checks that lo <= v <= hi.
func Between[T cmp.Ordered](c *Checker, field string, v, lo, hi T) {
	if v < lo || v > hi {
		c.Failf(field, "must be between %v and %v, got %v", lo, hi, v)
	}
}

// AtLeastField checks that v is at least the value ov of the field other,
// unless either field already broke a rule.
func AtLeastField[T cmp.Ordered](c *Checker, field string, v T, other string, ov T) {
	if !c.Failed(field, other) && v < ov {
		c.Failf(field, "must be at least %s (%v), got %v", Ref(other), ov, v)
	}
}

// AtMostField checks that v is at most the value ov of the field other,
// unless either field already broke a rule.
func AtMostField[T cmp.Ordered](c *Checker, field string, v T, other string, ov T) {
	if !c.Failed(field, other) && v > ov {
		c.Failf(field, "must be at most %s (%v), got %v", Ref(other), ov, v)
	}
}

// MoreThanField checks that v is more than the value ov of the field other,
// unless either field already broke a rule.
func MoreThanField[T cmp.Ordered](c *Checker, field string, v T, other string, ov T) {
	if !c.Failed(field, other) && v <= ov {
		c.Failf(field, "must be more than %s (%v), got %v", Ref(other), ov, v)
	}
}
