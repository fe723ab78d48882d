package ordered_test

import (
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// newMemcache returns a gomemcache client for the peer at addr, for tests
// that neither control which connection sends what nor check error kinds;
// the others use memcachedtest.Client.
func newMemcache(t *testing.T, addr string) *memcache.Client {
	t.Helper()
	mc := memcache.New(addr)
	mc.Timeout = opTimeout
	t.Cleanup(func() { _ = mc.Close() })
	return mc
}
