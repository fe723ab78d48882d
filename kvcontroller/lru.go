package kvcontroller

// entry is one item held by a MemStore, linked into its LRU list.
type entry struct {
	item       Item // item.Value is never modified in place once stored
	size       int64
	atime      int64 // unix second of the last read or write, for `stats items` age
	prev, next *entry
}

// lruList is an intrusive doubly linked list of entries; front is the most
// recently used. The zero value is not usable: call init first.
type lruList struct {
	root entry // sentinel: root.next is the front, root.prev the back
}

func (l *lruList) init() {
	l.root.next = &l.root
	l.root.prev = &l.root
}

// pushFront links e, which must not be in the list, at the front.
func (l *lruList) pushFront(e *entry) {
	e.prev = &l.root
	e.next = l.root.next
	l.root.next.prev = e
	l.root.next = e
}

// remove unlinks e, which must be in the list.
func (l *lruList) remove(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

// moveToFront marks e, which must be in the list, as most recently used.
func (l *lruList) moveToFront(e *entry) {
	if l.root.next == e {
		return
	}
	l.remove(e)
	l.pushFront(e)
}

// back returns the least recently used entry, or nil if the list is empty.
func (l *lruList) back() *entry {
	if l.root.prev == &l.root {
		return nil
	}
	return l.root.prev
}
