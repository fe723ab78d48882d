package kvcontroller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/field"
)

func TestOptions_Validate(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"memcached defaults", MemcachedOptions{Timeout: DefaultMemcachedTimeout, PipelineConns: DefaultMemcachedPipelineConns}.Validate(), nil},
		{"memcached zero fields", MemcachedOptions{}.Validate(), []string{
			"invalid replica options: Timeout must be positive, got 0s",
			"invalid replica options: PipelineConns must be between 1 and 64, got 0",
		}},
		{"memcached bounds", MemcachedOptions{Timeout: -time.Second, PipelineConns: 65}.Validate(), []string{
			"invalid replica options: Timeout must be positive, got -1s",
			"invalid replica options: PipelineConns must be between 1 and 64, got 65",
		}},
		{"memory default", MemStoreOptions{LimitBytes: DefaultMemStoreLimit}.Validate(), nil},
		{"memory over 1 TiB", MemStoreOptions{LimitBytes: 1<<40 + 1}.Validate(), []string{
			"invalid replica options: LimitBytes must be between 1 and 1099511627776, got 1099511627777",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields, rest := field.All(tt.err)
			require.Empty(t, rest)
			var got []string
			for _, f := range fields {
				assert.ErrorIs(t, f, ErrInvalidOptions)
				got = append(got, f.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNewMemcachedStore_ValidatesAfterDefaults(t *testing.T) {
	s, err := NewMemcachedStore(MemcachedOptions{Addr: "127.0.0.1:11211"})
	require.NoError(t, err, "zero fields are defaults")
	require.NoError(t, s.Close())
	_, err = NewMemcachedStore(MemcachedOptions{Addr: "127.0.0.1:11211", PipelineConns: 65})
	assert.ErrorIs(t, err, ErrInvalidOptions)
}
