package field

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errTest = errors.New("test: invalid config")

func TestChecker_RulesAndMessages(t *testing.T) {
	v := NewChecker(errTest, "test.Config")
	NotEmpty(v, "Name", "")
	MaxLen(v, "Secret", "abcd", 3)
	Positive(v, "Interval", time.Duration(0))
	NotNegative(v, "Idle", -time.Second)
	AtLeast(v, "Sync", time.Microsecond, time.Millisecond)
	Between(v, "Batch", 0, 1, 128)
	AtLeastField(v, "Timeout", time.Second, "Wait", 3*time.Second)
	AtMostField(v, "Delay", 2*time.Second, "Period", time.Second)
	MoreThanField(v, "Down", time.Second, "Beat", time.Second)
	assert.Equal(t, strings.Join([]string{
		"test: invalid config: Name must not be empty",
		"test: invalid config: Secret must be at most 3 bytes, got 4",
		"test: invalid config: Interval must be positive, got 0s",
		"test: invalid config: Idle must not be negative, got -1s",
		"test: invalid config: Sync must be at least 1ms, got 1µs",
		"test: invalid config: Batch must be between 1 and 128, got 0",
		"test: invalid config: Timeout must be at least Wait (3s), got 1s",
		"test: invalid config: Delay must be at most Period (1s), got 2s",
		"test: invalid config: Down must be more than Beat (1s), got 1s",
	}, "\n"), v.Err().Error())
	assert.ErrorIs(t, v.Err(), errTest)
}

func TestChecker_ComparisonSkippedWhenAFieldFailed(t *testing.T) {
	v := NewChecker(errTest, "test.Config")
	Positive(v, "Wait", time.Duration(0))
	AtLeastField(v, "Timeout", -time.Second, "Wait", time.Duration(0))
	fields, rest := All(v.Err())
	require.Len(t, fields, 1)
	assert.Empty(t, rest)
	assert.Equal(t, "test.Config.Wait", fields[0].Path())

	assert.NoError(t, NewChecker(errTest, "test.Config").Err(), "no problem, no error")
}

func TestError_RuleRendersRefsThroughTheNamer(t *testing.T) {
	v := NewChecker(errTest, "test.Config")
	AtMostField(v, "Delay", 2*time.Second, "Period", time.Second)
	fields, _ := All(v.Err())
	require.Len(t, fields, 1)
	e := fields[0]
	assert.Equal(t, []string{"test.Config.Period"}, e.Refs())
	assert.Equal(t, "must be at most Period (1s), got 2s", e.Rule(nil))
	assert.Equal(t, "must be at most cluster.period (1s), got 2s", e.Rule(func(path string) string {
		return "cluster." + strings.ToLower(strings.TrimPrefix(path, "test.Config."))
	}))
}

func TestAll_FindsFieldsThroughJoinAndWrapping(t *testing.T) {
	a := NewChecker(errTest, "a.Config")
	NotEmpty(a, "X", "")
	b := NewChecker(errTest, "b.Config")
	NotEmpty(b, "Y", "")
	NotEmpty(b, "Z", "")
	other := errors.New("disk on fire")
	err := fmt.Errorf("server p1: %w", errors.Join(a.Err(), nil, fmt.Errorf("b: %w", b.Err()), other))

	fields, rest := All(err)
	var paths []string
	for _, f := range fields {
		paths = append(paths, f.Path())
	}
	assert.Equal(t, []string{"a.Config.X", "b.Config.Y", "b.Config.Z"}, paths)
	assert.Equal(t, []error{other}, rest)

	fields, rest = All(fmt.Errorf("open: %w", other))
	assert.Empty(t, fields)
	require.Len(t, rest, 1)
	assert.Equal(t, "open: disk on fire", rest[0].Error(), "an error without fields keeps its context")
}
