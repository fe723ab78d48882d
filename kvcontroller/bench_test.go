package kvcontroller

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

const benchKeys = 1024

func benchItem(i int) Item {
	return Item{Key: fmt.Sprintf("bench:key:%d", i%benchKeys), Value: make([]byte, 100), Flags: 1, Version: uint64(i)}
}

func benchGet(b *testing.B, s Store) {
	ctx := context.Background()
	keys := make([]string, benchKeys)
	for i := range keys {
		it := benchItem(i)
		keys[i] = it.Key
		require.NoError(b, s.Set(ctx, it))
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Get(ctx, keys[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := s.Get(ctx, keys[i%benchKeys]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func benchSet(b *testing.B, s Store) {
	ctx := context.Background()
	items := make([]Item, benchKeys)
	for i := range items {
		items[i] = benchItem(i)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := s.Set(ctx, items[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := s.Set(ctx, items[i%benchKeys]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkMemStore_Get(b *testing.B) {
	benchGet(b, NewMemStore(MemStoreOptions{}))
}

func BenchmarkMemStore_Set(b *testing.B) {
	benchSet(b, NewMemStore(MemStoreOptions{}))
}

func BenchmarkMemcachedStore_Get(b *testing.B) {
	benchGet(b, newTestMemcachedStore(b, MemcachedOptions{Addr: startMemcached(b)}))
}

func BenchmarkMemcachedStore_Set(b *testing.B) {
	benchSet(b, newTestMemcachedStore(b, MemcachedOptions{Addr: startMemcached(b)}))
}

func BenchmarkAppendEnvelope(b *testing.B) {
	it := benchItem(0)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEnvelope(buf[:0], it)
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	enc := EncodeEnvelope(benchItem(0))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEnvelope("k", enc); err != nil {
			b.Fatal(err)
		}
	}
}
