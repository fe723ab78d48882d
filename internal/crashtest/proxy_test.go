package crashtest

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memcons/memcons/internal/memcachedtest"
)

// echoServer answers every line with the same line until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	return memcachedtest.StartScripted(t, memcachedtest.Script{Reply: func(line, _ string) string { return line + "\n" }}).Addr()
}

// echo sends a line on c and reads it back.
func echo(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

func TestProxy_CutClosesAndRefusesUntilHeal(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	require.NoError(t, err)
	defer p.Close()

	before, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer before.Close()
	require.NoError(t, echo(before), "bytes pass through")

	p.Cut()
	assert.Error(t, echo(before), "a cut closes the connections it carried")
	during, err := net.Dial("tcp", p.Addr())
	if err == nil {
		assert.Error(t, echo(during), "a cut refuses new connections")
		_ = during.Close()
	}

	p.Heal()
	after, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer after.Close()
	assert.NoError(t, echo(after), "a healed proxy forwards again")
}
