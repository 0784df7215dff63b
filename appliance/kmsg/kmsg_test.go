package kmsg

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Record
		err  bool
	}{
		{"6,1234,4570652,-;keep-modprobe: -q -- acpi_ipmi: loaded\n",
			Record{Priority: 6, Seq: 1234, Since: 4570652 * time.Microsecond, Message: "keep-modprobe: -q -- acpi_ipmi: loaded"}, false},
		{"3,7,100,c;md/raid:md0: Disk failure on vdb\n SUBSYSTEM=block\n DEVICE=b253:16\n",
			Record{Priority: 3, Seq: 7, Since: 100 * time.Microsecond, Message: "md/raid:md0: Disk failure on vdb"}, false},
		{"30,8,5,-,caller=T1;systemd-like facility 3\n", Record{Priority: 6, Facility: 3, Seq: 8, Since: 5 * time.Microsecond, Message: "systemd-like facility 3"}, false},
		{"4,9,0,-;tab\\x09and bell\\x07 and \\xZZ\n", Record{Priority: 4, Seq: 9, Message: "tab\tand bell\a and \\xZZ"}, false},
		{"no header at all", Record{}, true},
		{"6,1,2;too few", Record{}, true},
		{"x,1,2,-;bad priority", Record{}, true},
		{"6,-1,2,-;bad seq", Record{}, true},
		{"6,1,99999999999999999999,-;bad time", Record{}, true},
	}
	for _, tc := range tests {
		got, err := Parse([]byte(tc.in))
		if tc.err {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("Parse(%q) error = %v, want ErrFormat", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// records is a reader that returns one record per Read, as /dev/kmsg does,
// with scripted errors in between.
type records struct {
	items []any // string or error
}

func (r *records) Read(p []byte) (int, error) {
	if len(r.items) == 0 {
		return 0, io.EOF
	}
	it := r.items[0]
	r.items = r.items[1:]
	if err, ok := it.(error); ok {
		return 0, err
	}
	return copy(p, it.(string)), nil
}

func TestFollowSkipsOverwrittenAndBadRecords(t *testing.T) {
	r := &records{items: []any{
		"6,1,10,-;first\n",
		syscall.EPIPE, // the kernel overwrote records we had not read
		"garbage",
		"6,5,20,-;second\n",
	}}
	var got []string
	var bad int
	if err := Follow(context.Background(), r, func(rec Record) { got = append(got, rec.Message) }, func(error) { bad++ }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "first" || got[1] != "second" || bad != 1 {
		t.Fatalf("got %q, %d bad", got, bad)
	}
	r = &records{items: []any{syscall.EIO}}
	if err := Follow(context.Background(), r, func(Record) {}, func(error) {}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read error: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("6,1234,4570652,-;keep-modprobe: loaded\n"))
	f.Add([]byte("3,7,100,c;md: x\n SUBSYSTEM=block\n"))
	f.Add([]byte("4,9,0,-;\\x41\\x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if rec.Priority < 0 || rec.Priority > 7 || rec.Since < 0 {
			t.Fatalf("out of range: %+v", rec)
		}
	})
}
