// Package clock is the appliance's one seam for time, in the manner of
// kopia's internal/clock: code that reads the time or waits for it takes a
// Clock, production passes Real(), and tests pass a *Fake that only moves
// when the test advances it. Backoff delays, stop timeouts, health-check
// intervals and event timestamps all go through it, so unit tests never
// sleep and never wait out a real delay.
//
// Invariants of the Fake:
//   - Now changes only in Advance.
//   - A timer fires exactly once, during the Advance that reaches its
//     deadline (or at creation if its duration is not positive), in
//     deadline order, ties in creation order.
//   - Pending and WaitForTimers see a timer from the moment NewTimer returns
//     until it fires or is stopped, so a test can observe exactly which
//     delays the code under test asked for.
package clock
