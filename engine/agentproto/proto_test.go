package agentproto

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
)

func id(b byte) fingerprint.ID {
	var x fingerprint.ID
	for i := range x {
		x[i] = b + byte(i)
	}
	return x
}

// samples has at least one message of every type, with edge values.
func samples() []Message {
	var seed, key [32]byte
	seed[0], key[31] = 7, 9
	return []Message{
		&Hello{Version: 1, Agent: "keep-agent 1.0", Client: "web1"},
		&Hello{Version: 5, Agent: "keep-agent 1.1", Client: "web1", Flags: HelloCompresses},
		&Hello{},
		&HelloOK{Version: 1, VaultID: "v", Client: "web1", Chunker: chunker.FileParams(), GearSeed: seed, FingerprintKey: key, MaxPayload: MaxPayload, MaxInFlight: 64 << 20, MaxHaveIDs: 256, BundleBelow: 256 << 10, BundleSize: 1 << 20},
		&Error{Code: CodeIDMismatch, Message: "data does not match its ID"},
		&HaveQuery{BlobType: 1, IDs: []fingerprint.ID{id(1), id(2), id(3)}},
		&HaveQuery{BlobType: 2, IDs: []fingerprint.ID{}},
		&HaveReply{Present: []bool{true, false, true, true, false, false, false, true, true}},
		&HaveReply{Present: []bool{}},
		&PutBlob{BlobType: 1, ID: id(4), Data: []byte("chunk")},
		&PutBlob{BlobType: 1, ID: id(4), Codec: 1, Size: 1 << 22, Data: []byte("zstd frame")},
		&PutBundle{Codec: 1, Size: 1 << 20, Data: []byte("zstd frame of a bundle")},
		&PutBundle{Data: []byte{}},
		&PutBlob{BlobType: 2, ID: id(4), Data: []byte{}},
		&PutOK{Stored: 12345},
		&GetBlob{BlobType: 2, ID: id(5)},
		&Blob{Data: []byte("plain")},
		&Blob{Codec: 2, Data: []byte("zstd+x86 frame")},
		&GetBlobs{BlobType: 1, IDs: []fingerprint.ID{id(11), id(12)}},
		&GetBlobs{BlobType: 1, IDs: []fingerprint.ID{}},
		&Blobs{Items: []BlobItem{{Data: []byte("one")}, {Code: CodeNotFound, Message: "gone", Data: []byte{}}, {Codec: 1, Data: []byte("z")}}},
		&Blobs{Items: []BlobItem{}},
		&Blobs{Items: []BlobItem{{Bundle: 1, Data: []byte{}}, {Data: []byte("x")}, {Bundle: 2, Data: []byte{}}}, Bundles: []BundleRef{{1, 2, 3}, {39: 9}}},
		&GetBundle{Ref: BundleRef{7, 39: 8}},
		&Flush{}, &FlushOK{},
		&Commit{Snapshot: []byte(`{"version":1}`)},
		&Committed{ID: id(6)},
		&ListSnapshots{},
		&Snapshots{Items: []SnapshotItem{{ID: id(7), JSON: []byte("{}")}, {ID: id(8), JSON: []byte{}}}},
		&Snapshots{Items: []SnapshotItem{}},
		&OpenSnapshot{ID: id(9), Verify: true},
		&SnapshotInfo{Intact: true, JSON: []byte("{}")},
		&BeginJob{Kind: "incremental", Hostname: "web1", Parent: id(10), Paths: []string{"/etc", "/srv"}},
		&BeginJob{Kind: "full", Paths: []string{}},
		&JobStarted{JobID: "20261203-abc"},
		&Progress{Files: 1, Dirs: 2, BytesSeen: 3, BytesRead: 4, BytesNew: 5, ElapsedNS: 1 << 62},
		&Skipped{Items: []SkippedItem{{Path: "/a", Reason: "permission denied"}}},
		&Skipped{Items: []SkippedItem{}},
		&EndJob{Failed: true, Reason: "disk gone"},
		&Ack{},
		&Enrol{Secret: []byte("0123456789abcdef0123"), PublicKey: []byte{0x30, 1, 2}},
		&Enrolled{Certificate: []byte{0x30}, CA: []byte{0x30, 0x31}},
	}
}

func TestRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range samples() {
		seen[m.Type()] = true
		f, err := AppendFrame(nil, 42, m)
		if err != nil {
			t.Fatal(err)
		}
		rid, got, err := DecodeFrame(f)
		if err != nil {
			t.Fatalf("%v: %v", m.Type(), err)
		}
		// Split at the data a message ends with, the same bytes.
		head, data, err := AppendFrameSplit([]byte("x"), 42, m)
		if err != nil || !bytes.Equal(append(head[1:], data...), f) {
			t.Fatalf("%v: AppendFrameSplit differs from AppendFrame: %v", m.Type(), err)
		}
		if _, ok := m.(tailed); ok != (len(data) > 0 || m.Type() == TypePutBlob || m.Type() == TypePutBundle) {
			t.Fatalf("%v: split off %d bytes", m.Type(), len(data))
		}
		if rid != 42 || !reflect.DeepEqual(got, m) {
			t.Fatalf("%v: got %#v id %d", m.Type(), got, rid)
		}
		rid, got, err = ReadFrame(bytes.NewReader(f), 0)
		if err != nil || rid != 42 || !reflect.DeepEqual(got, m) {
			t.Fatalf("%v: ReadFrame: %v", m.Type(), err)
		}
		// Every truncation of a payload with fixed or prefixed fields
		// fails; trailing bytes always fail.
		p := m.Append(nil)
		if sz, ok := m.(sizer); ok && sz.size() != len(p) {
			t.Errorf("%v: size %d, payload %d bytes", m.Type(), sz.size(), len(p))
		}
		if _, err := Decode(m.Type(), append(bytes.Clone(p), 0)); !errors.Is(err, ErrFrame) && !restType(m.Type()) {
			t.Errorf("%v: trailing byte accepted", m.Type())
		}
		for n := range len(p) {
			if restType(m.Type()) && n >= fixedPrefix(m.Type()) {
				break
			}
			if h, ok := m.(*Hello); ok && h.Flags != 0 && n == len(p)-1 {
				continue // a Hello without flags, as versions before 5 wrote it
			}
			if _, err := Decode(m.Type(), p[:n]); !errors.Is(err, ErrFrame) {
				t.Errorf("%v: truncation to %d of %d accepted", m.Type(), n, len(p))
			}
		}
	}
	for ty := Type(1); ty < typeEnd; ty++ {
		if !seen[ty] {
			t.Errorf("no sample of %v", ty)
		}
	}
}

// restType: the payload ends with unprefixed data, so any length from the
// fixed prefix on is valid.
func restType(t Type) bool {
	return t == TypePutBlob || t == TypeBlob || t == TypeCommit || t == TypePutBundle
}

// fixedPrefix is the fixed fields of a type whose data ends its payload.
func fixedPrefix(t Type) int {
	switch t {
	case TypePutBlob:
		return 1 + 32 + 1 + 4
	case TypeBlob:
		return 1
	case TypePutBundle:
		return 1 + 4
	}
	return 0
}

func TestRejects(t *testing.T) {
	cases := []struct {
		name string
		t    Type
		p    []byte
	}{
		{"have count over bound", TypeHaveQuery, []byte{1, 0, 0, 0x10, 1}},
		{"have count over bytes", TypeHaveQuery, []byte{1, 0, 0, 0, 2}},
		{"huge count no alloc", TypeSnapshots, []byte{0xff, 0xff, 0xff, 0xff}},
		{"bitmap padding", TypeHaveReply, []byte{0, 0, 0, 3, 0x08}},
		{"bool 2", TypeOpenSnapshot, append(make([]byte, 32), 2)},
		{"string over bound", TypeHello, append([]byte{0, 1, 0x10, 0x01}, make([]byte, 4097)...)},
		{"flush with payload", TypeFlush, []byte{0}},
		{"hello flags zero written", TypeHello, []byte{0, 5, 0, 0, 0, 0, 0}},
		{"hello flags unknown bit", TypeHello, []byte{0, 5, 0, 0, 0, 0, 2}},
		{"hello flags and more", TypeHello, []byte{0, 5, 0, 0, 0, 0, 1, 0}},
		{"unknown type", Type(0), nil},
		{"unknown type 200", Type(200), nil},
		{"commit too large", TypeCommit, make([]byte, MaxSnapshot+1)},
	}
	for _, c := range cases {
		if _, err := Decode(c.t, c.p); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestHeader(t *testing.T) {
	h := AppendHeader(nil, Header{Type: TypePutBlob, ID: 7, Length: MaxPayload + 1})
	if _, err := ParseHeader(h, 0); !errors.Is(err, ErrFrame) {
		t.Fatalf("oversized length accepted: %v", err)
	}
	h = AppendHeader(nil, Header{Type: TypePutBlob, ID: 7, Length: 1000})
	if _, err := ParseHeader(h, 999); !errors.Is(err, ErrFrame) {
		t.Fatalf("length over the caller's limit accepted: %v", err)
	}
	got, err := ParseHeader(h, 1000)
	if err != nil || got != (Header{TypePutBlob, 7, 1000}) {
		t.Fatalf("%v %v", got, err)
	}
	h[0] = 0
	if _, err := ParseHeader(h, 0); !errors.Is(err, ErrFrame) {
		t.Fatal("type 0 accepted")
	}
	// Data over the payload limit is refused split or not, nothing appended.
	big := &PutBundle{Data: make([]byte, MaxPayload)}
	if b, err := AppendFrame([]byte("x"), 1, big); !errors.Is(err, ErrFrame) || string(b) != "x" {
		t.Fatalf("oversized frame: %v, %d bytes", err, len(b))
	}
	if b, data, err := AppendFrameSplit([]byte("x"), 1, big); !errors.Is(err, ErrFrame) || string(b) != "x" || data != nil {
		t.Fatalf("oversized split frame: %v, %d bytes", err, len(b))
	}
	// A short stream is an I/O error, not a panic or a hang.
	f, _ := AppendFrame(nil, 1, &Blob{Data: []byte("abc")})
	if _, _, err := ReadFrame(bytes.NewReader(f[:len(f)-1]), 0); err == nil {
		t.Fatal("truncated frame read")
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	var key [32]byte
	for i := range key {
		key[i] = 0xAB
	}
	h := HelloOK{FingerprintKey: key, GearSeed: key}
	e := Enrol{Secret: []byte("supersecrettoken")}
	for _, v := range []any{h, &h, e, &e} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			s := fmt.Sprintf(f, v)
			if strings.Contains(strings.ToLower(s), "abab") || strings.Contains(s, "171, 171") || strings.Contains(s, "supersecret") || strings.Contains(s, "7375706572") {
				t.Errorf("%s of %T prints a secret: %s", f, v, s)
			}
		}
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("put: %w", &Error{Code: CodeIDMismatch, Message: "x"})
	if !errors.Is(err, &Error{Code: CodeIDMismatch}) || errors.Is(err, &Error{Code: CodeNotFound}) {
		t.Fatal("Error.Is does not match by code")
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", MaxString) // 2 bytes each
	m := &Error{Message: s}
	got, err := Decode(TypeError, m.Append(nil))
	if err != nil || len(got.(*Error).Message) > MaxString || !strings.HasPrefix(s, got.(*Error).Message) {
		t.Fatalf("%v", err)
	}
}

// TestBlobsBundleRefs: a Blobs item names a bundle of its reply, and a
// member carries no payload of its own; anything else is ErrFrame.
func TestBlobsBundleRefs(t *testing.T) {
	for name, m := range map[string]*Blobs{
		"past the bundles":  {Items: []BlobItem{{Bundle: 2}}, Bundles: []BundleRef{{1}}},
		"no bundles":        {Items: []BlobItem{{Bundle: 1}}},
		"member with data":  {Items: []BlobItem{{Bundle: 1, Data: []byte("x")}}, Bundles: []BundleRef{{1}}},
		"member with codec": {Items: []BlobItem{{Bundle: 1, Codec: 1}}, Bundles: []BundleRef{{1}}},
		"member with code":  {Items: []BlobItem{{Bundle: 1, Code: CodeNotFound}}, Bundles: []BundleRef{{1}}},
	} {
		if _, err := Decode(TypeBlobs, m.Append(nil)); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: %v; want ErrFrame", name, err)
		}
	}
}
