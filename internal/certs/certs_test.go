package certs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/certs"
	"github.com/memcons/memcons/internal/certs/certtest"
)

func TestLoad(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	good := ca.Issue("peer")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	tests := []struct {
		name    string
		files   certs.Files
		wantErr string // "" loads
	}{
		{"certificate, key and CA", good, ""},
		{"without a CA", certs.Files{Cert: good.Cert, Key: good.Key}, ""},
		{"no key", certs.Files{Cert: good.Cert}, "both required"},
		{"missing certificate file", certs.Files{Cert: good.Cert + ".gone", Key: good.Key}, "no such file"},
		{"key of another certificate", certs.Files{Cert: good.Cert, Key: ca.Issue("other").Key}, "does not match"},
		{"CA file without a certificate", certs.Files{Cert: good.Cert, Key: good.Key, CA: notPEM}, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := certs.Load(tt.files)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, certs.ErrCerts)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.files, s.Files())
			assert.Equal(t, tt.files.CA != "", s.HasCA())
			assert.False(t, s.NotAfter().IsZero())
		})
	}
}

func TestSource_ReloadKeepsOldOnError(t *testing.T) {
	ca := certtest.NewCA(t, "test")
	first, second := ca.Issue("peer"), ca.Issue("peer")
	s, err := certs.Load(first)
	require.NoError(t, err)
	require.Error(t, s.Reload(certs.Files{Cert: second.Cert, Key: first.Key}))
	assert.Equal(t, first, s.Files(), "a failed reload keeps the old files")
	require.NoError(t, s.Reload(second))
	assert.Equal(t, second, s.Files())
}
