package daemon

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/logspread/logspread/spreadlink"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fanoutRig drives the ordering point directly: one sender and n receivers joined to
// "logs", without sockets; drain plays the writers.
type fanoutRig struct {
	d     *Daemon
	s     *session
	rcpts []*session
	frame []byte
	req   request
}

func newFanoutRig(tb testing.TB, receivers, size int, groups []string) *fanoutRig {
	return newFanoutRigConfig(tb, Config{Listen: []string{"127.0.0.1:0"}}, receivers, size, groups)
}

func newFanoutRigConfig(tb testing.TB, cfg Config, receivers, size int, groups []string) *fanoutRig {
	tb.Helper()
	d, err := New(cfg, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	mk := func(name string) *session {
		a, b := net.Pipe()
		tb.Cleanup(func() { a.Close(); b.Close() })
		s := newSession(d, a, 0)
		if code := d.reserveName(s, name); code != 0 {
			tb.Fatal(code)
		}
		d.privs[s.private] = s
		return s
	}
	r := &fanoutRig{d: d, s: mk("sender")}
	for i := range receivers {
		t := mk(fmt.Sprintf("r%d", i))
		for _, g := range groups {
			d.joinLocked(t, []byte(g))
		}
		r.rcpts = append(r.rcpts, t)
	}
	r.drain()
	frame := spreadlink.AppendHeader(nil, spreadlink.Agreed, []byte(r.s.private), len(groups), 1, size)
	for _, g := range groups {
		frame = spreadlink.AppendGroupSlot(frame, []byte(g))
	}
	frame = append(frame, make([]byte, size)...)
	r.req, err = parseRequest(frame)
	if err != nil {
		tb.Fatal(err)
	}
	r.frame = frame
	return r
}

// drain empties every receiver's queue, as the writers would.
func (r *fanoutRig) drain() {
	r.d.mu.Lock()
	for _, t := range r.rcpts {
		r.d.takeLocked(t, t.out)
		select {
		case <-t.wake:
		default:
		}
	}
	r.d.mu.Unlock()
}

func (r *fanoutRig) send(tb testing.TB) {
	if err := r.d.order(r.s, r.req, r.frame); err != nil {
		tb.Fatal(err)
	}
}

// TestFanoutNoAlloc pins the promise that ordering and queueing a message allocates
// nothing in the steady state, for a single group, several groups and a private group.
// With flow control and a soft mark of one message, every other message pauses and every
// drain resumes, so the pause path is measured too.
func TestFanoutNoAlloc(t *testing.T) {
	for _, groups := range [][]string{{"logs"}, {"logs", "other", "#r1#localhost", "nobody"}} {
		r := newFanoutRig(t, 4, 100, groups)
		checkFanoutNoAlloc(t, r, groups)
	}
	cfg := Config{Listen: []string{"127.0.0.1:0"}, FlowControl: true, SoftSessionMessages: 1, LosslessPrefixes: []string{""}}
	r := newFanoutRigConfig(t, cfg, 4, 100, []string{"logs"})
	checkFanoutNoAlloc(t, r, []string{"logs", "flow control"})
	if testutil.ToFloat64(r.d.m.flowPauses) == 0 || r.d.paused.Load() {
		t.Errorf("flow control: %v pauses, paused at the end %v", testutil.ToFloat64(r.d.m.flowPauses), r.d.paused.Load())
	}
	// Best-effort receivers (names not starting with 'c'): with a soft mark of one
	// message, every second message is dropped and a drop notice precedes the next.
	cfg.LosslessPrefixes = nil
	r = newFanoutRigConfig(t, cfg, 4, 100, []string{"logs"})
	checkFanoutNoAlloc(t, r, []string{"logs", "best effort"})
	if testutil.ToFloat64(r.d.m.dropped) == 0 || testutil.ToFloat64(r.d.m.flowPauses) != 0 {
		t.Errorf("best effort: %v dropped, %v pauses; want drops and no pause", testutil.ToFloat64(r.d.m.dropped), testutil.ToFloat64(r.d.m.flowPauses))
	}
}

func checkFanoutNoAlloc(t *testing.T, r *fanoutRig, groups []string) {
	t.Helper()
	{
		for range 10 { // grow the queues
			r.send(t)
		}
		r.drain()
		allocs := testing.AllocsPerRun(1000, func() {
			r.send(t)
			r.send(t)
			r.drain()
		})
		if allocs != 0 {
			t.Errorf("groups %v: %.1f allocations per two messages, want 0", groups, allocs)
		}
		for _, rc := range r.rcpts {
			if rc.dead {
				t.Fatalf("%s kicked", rc.private)
			}
		}
	}
}

// BenchmarkFanout measures the ordering point alone: one message to a group of n members.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		for _, size := range []int{100, 1024, 65536} {
			b.Run(fmt.Sprintf("members=%d/size=%d", n, size), func(b *testing.B) {
				r := newFanoutRig(b, n, size, []string{"logs"})
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					r.send(b)
					if i%64 == 63 {
						r.drain()
					}
				}
			})
		}
	}
}

// BenchmarkDaemon measures the whole daemon over a real socket: a raw sender writes
// prebuilt frames, a raw receiver reads them; allocations are the daemon's (the client
// side allocates nothing per message).
func BenchmarkDaemon(b *testing.B) {
	for _, network := range []string{"unix", "tcp"} {
		for _, size := range []int{100, 1000, 65536} {
			b.Run(fmt.Sprintf("%s/size=%d", network, size), func(b *testing.B) {
				cfg := testConfig(b)
				cfg.MaxSessionMessages = 1 << 20
				cfg.MaxSessionBytes = 1 << 30
				d := startDaemon(b, cfg)
				addr := d.addr(b, network)
				rx := dialRaw(b, addr)
				rx.handshake("rx", false)
				tx := dialRaw(b, addr)
				txPriv := tx.handshake("tx", false)
				// rx joins "logs", then unicasts itself a marker so we know the join is done.
				join := spreadlink.AppendHeader(nil, spreadlink.JoinMess, []byte("#rx#localhost"), 1, 0, 0)
				rx.write(spreadlink.AppendGroupSlot(join, []byte("logs")))
				mark := spreadlink.AppendHeader(nil, spreadlink.Agreed, []byte("#rx#localhost"), 1, 0, 0)
				rx.write(spreadlink.AppendGroupSlot(mark, []byte("#rx#localhost")))
				rx.read(spreadlink.HeaderLen + spreadlink.GroupNameLen)

				frame := spreadlink.AppendHeader(nil, spreadlink.Agreed, []byte(txPriv), 1, 1, size)
				frame = spreadlink.AppendGroupSlot(frame, []byte("logs"))
				frame = append(frame, make([]byte, size)...)
				const batch = 64
				frames := make([]byte, 0, batch*len(frame))
				for range batch {
					frames = append(frames, frame...)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				var wg sync.WaitGroup
				wg.Go(func() {
					bw := bufio.NewWriterSize(tx.nc, 256<<10)
					for left := b.N; left > 0; left -= batch {
						k := min(left, batch)
						if _, err := bw.Write(frames[:k*len(frame)]); err != nil {
							b.Error(err)
							return
						}
					}
					if err := bw.Flush(); err != nil {
						b.Error(err)
					}
				})
				buf := make([]byte, 256<<10)
				for want := int64(b.N) * int64(len(frame)); want > 0; {
					n, err := rx.nc.Read(buf[:min(int64(len(buf)), want)])
					if err != nil {
						b.Fatal(err)
					}
					want -= int64(n)
				}
				wg.Wait()
				b.StopTimer()
			})
		}
	}
}
