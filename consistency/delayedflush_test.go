package consistency

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDelayedFlush_ScheduleReplacesCloseWaitsAndRefuses(t *testing.T) {
	var d DelayedFlush
	ran := make(chan string, 2)
	require.NoError(t, d.Schedule(time.Hour, func() { ran <- "first" }))
	release := make(chan struct{})
	require.NoError(t, d.Schedule(time.Millisecond, func() { ran <- "second"; <-release }))
	select {
	case got := <-ran:
		assert.Equal(t, "second", got, "the later flush_all replaces the pending one")
	case <-time.After(10 * time.Second):
		t.Fatal("the scheduled flush never ran")
	}

	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a flush was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the running flush ended")
	}
	assert.ErrorIs(t, d.Schedule(time.Millisecond, func() { ran <- "late" }), ErrUnavailable)
	assert.Empty(t, ran)
}
