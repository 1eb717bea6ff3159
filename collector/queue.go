package collector

import (
	"context"
	"sync"
)

// itemOverhead is what one queued message costs besides its body, for the byte bound.
const itemOverhead = 64

// itemKind tells queued items apart.
type itemKind uint8

const (
	// itemData is a data message delivered on one or more configured groups.
	itemData itemKind = iota
	// itemGap says the session was lost after the items before it: messages may be missing.
	itemGap
	// itemStop says the collector is stopping: the writer flushes, sends the final
	// progress report, then calls done (the reader leaves the presence groups).
	itemStop
)

// qitem is one delivered message, copied out of the reader's buffers.
type qitem struct {
	kind     itemKind
	messType int16
	logs     []int  // indexes of the configured logs among the destination groups
	data     []byte // the message body (owned by the item)
	size     int    // bytes charged to the queue
	done     func() // itemStop: called once the final report is sent (or not)
}

// itemPool recycles items and their body buffers.
var itemPool = sync.Pool{New: func() any { return new(qitem) }}

func newItem() *qitem { return itemPool.Get().(*qitem) }

func freeItem(it *qitem) {
	if cap(it.data) > 256<<10 {
		it.data = nil // do not pool buffers of exceptional messages
	}
	it.data, it.logs = it.data[:0], it.logs[:0]
	it.kind, it.messType, it.size, it.done = itemData, 0, 0, nil
	itemPool.Put(it)
}

// msgQueue is the bounded FIFO between the reader goroutine and the writer goroutine.
// It is bounded in bytes: push waits while the queue holds limit bytes or more (an
// item is always accepted into an empty queue, so a message larger than the bound
// still passes). Gap and stop items are never refused, so the reader can always record
// a lost session and a stop; there is at most one gap per reconnect and one stop.
//
// Concurrency: the reader pushes and closes, and the stop item is pushed from the
// goroutine that sees the stop; one goroutine takes and releases.
type msgQueue struct {
	limit int
	m     *CollectorMetrics
	ready chan struct{} // cap 1: items were pushed or the queue was closed
	space chan struct{} // cap 1: bytes were released

	mu     sync.Mutex // Guards the fields below.
	items  []*qitem
	bytes  int // bytes of items pushed and not yet released (taken items count until released)
	count  int // items pushed and not yet released
	closed bool
}

func newMsgQueue(limit int, m *CollectorMetrics) *msgQueue {
	m.QueueLimitBytes.Set(float64(limit))
	return &msgQueue{
		limit: limit,
		m:     m,
		ready: make(chan struct{}, 1),
		space: make(chan struct{}, 1),
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push appends it, waiting while the queue is full. It returns false, without
// queueing it, if ctx is done first. full is called once each time push has to wait.
func (q *msgQueue) push(ctx context.Context, it *qitem, full func()) bool {
	it.size = len(it.data) + itemOverhead
	waited := false
	for {
		q.mu.Lock()
		if it.kind != itemData || q.bytes == 0 || q.bytes+it.size <= q.limit {
			q.items = append(q.items, it)
			q.bytes += it.size
			q.count++
			q.m.QueueBytes.Set(float64(q.bytes))
			q.m.QueueMessages.Set(float64(q.count))
			q.mu.Unlock()
			wake(q.ready)
			return true
		}
		q.mu.Unlock()
		if !waited {
			waited = true
			full()
		}
		select {
		case <-q.space:
		case <-ctx.Done():
			return false
		}
	}
}

// take moves every queued item to dst and returns it, and whether the queue is closed.
// The items keep their bytes charged until release.
func (q *msgQueue) take(dst []*qitem) ([]*qitem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	return dst, q.closed
}

// release returns the bytes of a taken item to the bound and recycles it.
func (q *msgQueue) release(it *qitem) {
	q.mu.Lock()
	q.bytes -= it.size
	q.count--
	q.m.QueueBytes.Set(float64(q.bytes))
	q.m.QueueMessages.Set(float64(q.count))
	q.mu.Unlock()
	freeItem(it)
	wake(q.space)
}

// close marks the end of input: take reports it once the queue is empty.
func (q *msgQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	wake(q.ready)
}
