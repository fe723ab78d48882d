package consistency

import (
	"context"
	"errors"
	"fmt"

	"github.com/memcons/memcons/kvcontroller"
)

// ReadLive returns key's live item in store at unix time now, or nil.
func ReadLive(ctx context.Context, store kvcontroller.Store, key string, now int64) (*kvcontroller.Item, error) {
	it, err := store.Get(ctx, key)
	switch {
	case errors.Is(err, kvcontroller.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read %q: %w", key, err)
	case !Live(it, now):
		return nil, nil
	}
	return &it, nil
}

// ReadLiveMulti returns the live items among keys in store at unix time
// now, in request order, as a retrieval Result.
func ReadLiveMulti(ctx context.Context, store kvcontroller.Store, keys []string, now int64) (Result, error) {
	if len(keys) == 1 {
		cur, err := ReadLive(ctx, store, keys[0], now)
		if err != nil || cur == nil {
			return Result{}, err
		}
		return Result{Items: []Item{HitOf(*cur)}}, nil
	}
	found, err := store.GetMulti(ctx, keys)
	if err != nil {
		return Result{}, fmt.Errorf("read %d keys: %w", len(keys), err)
	}
	items := make([]Item, 0, len(found))
	for _, k := range keys {
		if it, ok := found[k]; ok && Live(it, now) {
			items = append(items, HitOf(it))
		}
	}
	return Result{Items: items}, nil
}

// StoreItem writes it to store; an item the store refuses as too large is
// ErrTooLarge, which the client port answers as memcached does.
func StoreItem(ctx context.Context, store kvcontroller.Store, it kvcontroller.Item) error {
	err := store.Set(ctx, it)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kvcontroller.ErrTooLarge):
		return fmt.Errorf("store %q: %w: %w", it.Key, ErrTooLarge, err)
	}
	return fmt.Errorf("store %q: %w", it.Key, err)
}

// CommitEffect carries out eff on store.
func CommitEffect(ctx context.Context, store kvcontroller.Store, eff Effect) error {
	switch eff.Kind {
	case EffectPut:
		if err := StoreItem(ctx, store, eff.Item); err != nil {
			return err
		}
	case EffectDelete:
		if err := store.Delete(ctx, eff.Item.Key); err != nil && !errors.Is(err, kvcontroller.ErrNotFound) {
			return fmt.Errorf("delete %q: %w", eff.Item.Key, err)
		}
	}
	return nil
}
