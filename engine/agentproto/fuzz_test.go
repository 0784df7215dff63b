package agentproto

import (
	"bytes"
	"testing"
)

// fuzzType fuzzes the decoder of one message type: seeds are the samples
// of that type; anything that decodes must re-encode to the same bytes.
func fuzzType(f *testing.F, ty Type) {
	for _, m := range samples() {
		if m.Type() == ty {
			f.Add(m.Append(nil))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := Decode(ty, p)
		if err != nil {
			return
		}
		if m.Type() != ty {
			t.Fatalf("decoded %v as %v", ty, m.Type())
		}
		if got := m.Append(nil); !bytes.Equal(got, p) {
			t.Fatalf("re-encoding differs:\n%x\n%x", p, got)
		}
	})
}

func FuzzHello(f *testing.F)         { fuzzType(f, TypeHello) }
func FuzzHelloOK(f *testing.F)       { fuzzType(f, TypeHelloOK) }
func FuzzError(f *testing.F)         { fuzzType(f, TypeError) }
func FuzzHaveQuery(f *testing.F)     { fuzzType(f, TypeHaveQuery) }
func FuzzHaveReply(f *testing.F)     { fuzzType(f, TypeHaveReply) }
func FuzzPutBlob(f *testing.F)       { fuzzType(f, TypePutBlob) }
func FuzzPutOK(f *testing.F)         { fuzzType(f, TypePutOK) }
func FuzzGetBlob(f *testing.F)       { fuzzType(f, TypeGetBlob) }
func FuzzBlob(f *testing.F)          { fuzzType(f, TypeBlob) }
func FuzzFlush(f *testing.F)         { fuzzType(f, TypeFlush) }
func FuzzFlushOK(f *testing.F)       { fuzzType(f, TypeFlushOK) }
func FuzzCommit(f *testing.F)        { fuzzType(f, TypeCommit) }
func FuzzCommitted(f *testing.F)     { fuzzType(f, TypeCommitted) }
func FuzzListSnapshots(f *testing.F) { fuzzType(f, TypeListSnapshots) }
func FuzzSnapshots(f *testing.F)     { fuzzType(f, TypeSnapshots) }
func FuzzOpenSnapshot(f *testing.F)  { fuzzType(f, TypeOpenSnapshot) }
func FuzzSnapshotInfo(f *testing.F)  { fuzzType(f, TypeSnapshotInfo) }
func FuzzBeginJob(f *testing.F)      { fuzzType(f, TypeBeginJob) }
func FuzzJobStarted(f *testing.F)    { fuzzType(f, TypeJobStarted) }
func FuzzProgress(f *testing.F)      { fuzzType(f, TypeProgress) }
func FuzzSkipped(f *testing.F)       { fuzzType(f, TypeSkipped) }
func FuzzEndJob(f *testing.F)        { fuzzType(f, TypeEndJob) }
func FuzzAck(f *testing.F)           { fuzzType(f, TypeAck) }
func FuzzEnrol(f *testing.F)         { fuzzType(f, TypeEnrol) }
func FuzzEnrolled(f *testing.F)      { fuzzType(f, TypeEnrolled) }
func FuzzGetBlobs(f *testing.F)      { fuzzType(f, TypeGetBlobs) }
func FuzzBlobs(f *testing.F)         { fuzzType(f, TypeBlobs) }
func FuzzGetBundle(f *testing.F)     { fuzzType(f, TypeGetBundle) }
func FuzzPutBundle(f *testing.F)     { fuzzType(f, TypePutBundle) }

// FuzzDecodeFrame feeds whole frames: header checks, then the payload.
func FuzzDecodeFrame(f *testing.F) {
	for _, m := range samples() {
		b, err := AppendFrame(nil, 3, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rid, m, err := DecodeFrame(b)
		if err != nil {
			return
		}
		got, err := AppendFrame(nil, rid, m)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}
