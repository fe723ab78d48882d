package controller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServer_SetLimits(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, srv *Server, addr string)
	}{
		{"a new idle timeout closes a connection already waiting", func(t *testing.T, srv *Server, addr string) {
			c := dial(t, addr)
			_, err := c.Write([]byte("version\r\n"))
			require.NoError(t, err)
			_, closed, err := readUntil(c, []byte("\r\n"))
			require.NoError(t, err)
			require.False(t, closed)
			l := srv.Limits()
			l.IdleTimeout = 100 * time.Millisecond
			require.NoError(t, srv.SetLimits(l))
			_, closed, err = readUntil(c, nil)
			require.NoError(t, err)
			assert.True(t, closed, "the idle connection was closed under the new timeout")
		}},
		{"a lower max_connections turns new connections away", func(t *testing.T, srv *Server, addr string) {
			first := dial(t, addr)
			_, err := first.Write([]byte("version\r\n"))
			require.NoError(t, err)
			_, _, err = readUntil(first, []byte("\r\n"))
			require.NoError(t, err)
			l := srv.Limits()
			l.MaxConns = 1
			require.NoError(t, srv.SetLimits(l))
			got, closed, err := readUntil(dial(t, addr), nil)
			require.NoError(t, err)
			assert.True(t, closed)
			assert.Equal(t, tooManyConns, string(got))
			_, err = first.Write([]byte("version\r\n"))
			require.NoError(t, err)
			got, _, err = readUntil(first, []byte("\r\n"))
			require.NoError(t, err)
			assert.Contains(t, string(got), "VERSION", "the open connection stays")
		}},
		{"a longer max_line_length takes a longer line", func(t *testing.T, srv *Server, addr string) {
			l := srv.Limits()
			l.MaxLineLength = 4096
			require.NoError(t, srv.SetLimits(l))
			key := make([]byte, 0, 3000)
			for range 12 {
				key = append(key, []byte("get k234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789 ")...)
			}
			c := dial(t, addr)
			_, err := c.Write(append(key[:len(key)-1], "\r\n"...))
			require.NoError(t, err)
			got, _, err := readUntil(c, []byte("END\r\n"))
			require.NoError(t, err)
			assert.Equal(t, "END\r\n", string(got))
		}},
		{"a value Validate refuses is refused and the old limits stay", func(t *testing.T, srv *Server, _ string) {
			before := srv.Limits()
			bad := before
			bad.MaxLineLength = 10
			require.ErrorIs(t, srv.SetLimits(bad), ErrInvalidConfig)
			assert.Equal(t, before, srv.Limits())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, addr := startServer(t, Config{MaxLineLength: 2048}, nil, Options{}, nil)
			waitFor(t, "serving", func() bool { return srv.Addr() != nil })
			tt.run(t, srv, addr)
		})
	}
}
