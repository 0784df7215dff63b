package events

import "context"

type subscriber struct{ ch chan Event }

// Subscribe returns a channel that receives every event emitted from now
// on, until ctx is done; then the channel is closed. The channel is
// buffered (Options.SubscriberBuffer): a subscriber that falls behind loses
// events rather than slowing emitters, the loss is counted in
// Stats.SubscriberDropped, and shows as a gap in Seq.
//
// To follow the journal without a gap, subscribe first, then Query, then
// skip subscribed events whose Seq the query already returned.
func (j *Journal) Subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, j.subBuffer)}
	if ctx.Err() != nil {
		close(s.ch)
		return s.ch
	}
	j.mu.Lock()
	j.subs[s] = struct{}{}
	j.mu.Unlock()
	context.AfterFunc(ctx, func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		delete(j.subs, s)
		close(s.ch) // under mu: Emit never sends on a closed channel
	})
	return s.ch
}
