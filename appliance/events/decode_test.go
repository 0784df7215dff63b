package events_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"keep/appliance/events"
)

const validLine = `{"seq":1,"time":"2026-01-01T00:00:00Z","severity":"info","source":"s","kind":"k","message":"m"}`

func TestReadEventsReport(t *testing.T) {
	noKind := `{"time":"2026-01-01T00:00:00Z","severity":"info"}`
	numericSeverity := strings.Replace(validLine, `"info"`, `2`, 1)
	tests := []struct {
		name string
		in   string
		want events.ReadReport
	}{
		{"empty", "", events.ReadReport{}},
		{"one", validLine + "\n", events.ReadReport{Events: 1, End: int64(len(validLine) + 1)}},
		{"unterminated valid", validLine, events.ReadReport{Events: 1, Unterminated: true}},
		{"torn", validLine + "\n" + validLine[:20],
			events.ReadReport{Events: 1, Torn: true, TornBytes: 20, Unterminated: true, End: int64(len(validLine) + 1)}},
		{"blank lines", "\n \n" + validLine + "\n", events.ReadReport{Events: 1, End: int64(len(validLine) + 4)}},
		{"null", "null\n", events.ReadReport{Corrupt: 1, FirstCorruptLine: 1, End: 5}},
		{"missing kind", noKind + "\n",
			events.ReadReport{Corrupt: 1, FirstCorruptLine: 1, End: int64(len(noKind) + 1)}},
		{"numeric severity", numericSeverity + "\n",
			events.ReadReport{Corrupt: 1, FirstCorruptLine: 1, End: int64(len(numericSeverity) + 1)}},
		{"overlong", strings.Repeat("x", events.MaxLineBytes+5) + "\n" + validLine + "\n",
			events.ReadReport{Events: 1, Corrupt: 1, FirstCorruptLine: 1, End: int64(events.MaxLineBytes + 6 + len(validLine) + 1)}},
		{"overlong torn", strings.Repeat("x", events.MaxLineBytes+5),
			events.ReadReport{Torn: true, TornBytes: events.MaxLineBytes + 5, Unterminated: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.ReadEvents(strings.NewReader(tt.in), func(events.Event) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("report = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

// FuzzReadEvents feeds arbitrary bytes (what may be on disk after a crash
// or bit rot) to the decoder: it must not fail or panic, its report must be
// consistent with the input, and every event it accepts must survive a
// re-encode unchanged.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte(validLine + "\n"))
	f.Add([]byte(validLine + "\n" + validLine[:30]))
	f.Add([]byte("\n\n{}\nnull\n[1,2]\n"))
	f.Add([]byte(`{"seq":18446744073709551615,"boot":"x","time":"2026-01-01T00:00:00.123456789+05:30","severity":"CRIT","source":"","kind":"a.b","message":"\u2028\n","fields":{"a":"b","":""}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []events.Event
		rep, err := events.ReadEvents(bytes.NewReader(data), func(e events.Event) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadEvents on in-memory bytes failed: %v", err)
		}
		if rep.Events != len(got) {
			t.Fatalf("report says %d events, callback saw %d", rep.Events, len(got))
		}
		if rep.End < 0 || rep.End > int64(len(data)) || (rep.End > 0 && data[rep.End-1] != '\n') {
			t.Fatalf("End %d is not just past a newline in %d bytes", rep.End, len(data))
		}
		if nl := int64(bytes.Count(data, []byte("\n"))); int64(rep.Events+rep.Corrupt) > nl+1 {
			t.Fatalf("%d events + %d corrupt from %d lines", rep.Events, rep.Corrupt, nl+1)
		}
		if rep.Unterminated != (len(data) > 0 && data[len(data)-1] != '\n') {
			t.Fatalf("Unterminated = %v for input ending %q", rep.Unterminated, data[max(0, len(data)-1):])
		}
		for _, e := range got {
			b1, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("accepted event does not encode: %v", err)
			}
			again, err := events.ReadEvents(bytes.NewReader(append(b1, '\n')), func(e2 events.Event) error {
				b2, err := json.Marshal(e2)
				if err != nil || !bytes.Equal(b1, b2) {
					t.Fatalf("re-encode changed the event:\n%s\n%s (%v)", b1, b2, err)
				}
				return nil
			})
			if err != nil || again.Events != 1 {
				t.Fatalf("re-encoded event not accepted: %+v %v\n%s", again, err, b1)
			}
		}
	})
}
