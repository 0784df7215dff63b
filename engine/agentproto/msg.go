package agentproto

import (
	"encoding/binary"
	"errors"
	"fmt"

	"keep/engine/chunker"
	"keep/engine/fingerprint"
)

// Version is the protocol version Hello and HelloOK carry.
const Version = 5 // 2: GetBlobs; 3: blobs encoded (compressed) on the wire, PutBundle; 4: Blobs carries whole bundles; 5: Hello.Flags

// Bounds every decoder enforces.
const (
	MaxString    = 4096    // names, reasons, messages, paths
	MaxHaveIDs   = 4096    // IDs in one HaveQuery
	MaxGetIDs    = 1024    // IDs in one GetBlobs
	MaxPaths     = 1024    // paths of one BeginJob
	MaxSkipped   = 4096    // items of one Skipped
	MaxSnapshots = 65536   // snapshots in one Snapshots reply
	MaxSnapshot  = 4 << 20 // one snapshot's JSON (repo.MaxFileSize)
	MaxCert      = 16384   // a DER certificate or public key
	MaxToken     = 64      // an enrolment token's secret
)

// Type is a message type, the first byte of a frame.
type Type uint8

// Message types. Requests go from agent to vault, replies back with the
// request's ID; Error answers any request.
const (
	TypeHello         Type = 1
	TypeHelloOK       Type = 2
	TypeError         Type = 3
	TypeHaveQuery     Type = 4
	TypeHaveReply     Type = 5
	TypePutBlob       Type = 6
	TypePutOK         Type = 7
	TypeGetBlob       Type = 8
	TypeBlob          Type = 9
	TypeFlush         Type = 10
	TypeFlushOK       Type = 11
	TypeCommit        Type = 12
	TypeCommitted     Type = 13
	TypeListSnapshots Type = 14
	TypeSnapshots     Type = 15
	TypeOpenSnapshot  Type = 16
	TypeSnapshotInfo  Type = 17
	TypeBeginJob      Type = 18
	TypeJobStarted    Type = 19
	TypeProgress      Type = 20
	TypeSkipped       Type = 21
	TypeEndJob        Type = 22
	TypeAck           Type = 23
	TypeEnrol         Type = 24
	TypeEnrolled      Type = 25
	TypeGetBlobs      Type = 26
	TypeBlobs         Type = 27
	TypePutBundle     Type = 28
	TypeGetBundle     Type = 29
	typeEnd           Type = 30
)

var typeNames = [...]string{"", "Hello", "HelloOK", "Error", "HaveQuery", "HaveReply", "PutBlob", "PutOK",
	"GetBlob", "Blob", "Flush", "FlushOK", "Commit", "Committed", "ListSnapshots", "Snapshots",
	"OpenSnapshot", "SnapshotInfo", "BeginJob", "JobStarted", "Progress", "Skipped", "EndJob", "Ack",
	"Enrol", "Enrolled", "GetBlobs", "Blobs", "PutBundle", "GetBundle"}

// Valid reports whether t is a known message type.
func (t Type) Valid() bool { return t > 0 && t < typeEnd }

func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Message is one typed message.
type Message interface {
	Type() Type
	// Append appends the payload encoding.
	Append(b []byte) []byte
}

// Decode decodes the payload of a message of type t strictly: every
// bound checked before allocating, no trailing bytes. Byte fields of the
// result alias p.
func Decode(t Type, p []byte) (Message, error) {
	d := &dec{b: p, msg: t}
	var m Message
	switch t {
	case TypeHello:
		h := &Hello{Version: d.u16("version"), Agent: d.str("agent", MaxString), Client: d.str("client", MaxString)}
		if d.err == nil && len(d.b) > 0 {
			// Written only when not zero (and absent before
			// version 5, so an older agent still hears that its
			// version is refused, not that its Hello is malformed).
			switch h.Flags = d.u8("flags"); {
			case h.Flags == 0:
				d.fail("flags: zero is not written")
			case h.Flags&^HelloCompresses != 0:
				d.fail("flags: unknown bits %#x", h.Flags&^HelloCompresses)
			}
		}
		m = h
	case TypeHelloOK:
		h := &HelloOK{Version: d.u16("version"), VaultID: d.str("vault ID", MaxString), Client: d.str("client", MaxString)}
		h.Chunker.Min, h.Chunker.Avg, h.Chunker.Max = int(d.u32("min")), int(d.u32("avg")), int(d.u32("max"))
		h.GearSeed = d.key("gear seed")
		h.FingerprintKey = d.key("fingerprint key")
		h.MaxPayload, h.MaxInFlight, h.MaxHaveIDs = d.u32("max payload"), d.u32("max in flight"), d.u32("max have IDs")
		h.BundleBelow, h.BundleSize = d.u32("bundle below"), d.u32("bundle size")
		m = h
	case TypeError:
		m = &Error{Code: Code(d.u16("code")), Message: d.str("message", MaxString)}
	case TypeHaveQuery:
		q := &HaveQuery{BlobType: d.u8("blob type")}
		q.IDs = d.ids(MaxHaveIDs)
		m = q
	case TypeHaveReply:
		r := &HaveReply{}
		n := d.count("bits", MaxHaveIDs, 0)
		bits := d.take((n+7)/8, "bitmap")
		if d.err == nil {
			r.Present = make([]bool, n)
			for i := range r.Present {
				r.Present[i] = bits[i/8]&(1<<(i%8)) != 0
			}
			if n%8 != 0 && bits[n/8]>>(n%8) != 0 {
				d.fail("bitmap: padding bits set")
			}
		}
		m = r
	case TypePutBlob:
		m = &PutBlob{BlobType: d.u8("blob type"), ID: d.id("ID"), Codec: d.u8("codec"), Size: d.u32("size"), Data: d.rest()}
	case TypePutBundle:
		m = &PutBundle{Codec: d.u8("codec"), Size: d.u32("size"), Data: d.rest()}
	case TypePutOK:
		m = &PutOK{Stored: d.u32("stored")}
	case TypeGetBlob:
		m = &GetBlob{BlobType: d.u8("blob type"), ID: d.id("ID")}
	case TypeBlob:
		m = &Blob{Codec: d.u8("codec"), Data: d.rest()}
	case TypeGetBundle:
		g := &GetBundle{}
		copy(g.Ref[:], d.take(BundleRefSize, "bundle"))
		m = g
	case TypeGetBlobs:
		q := &GetBlobs{BlobType: d.u8("blob type")}
		q.IDs = d.ids(MaxGetIDs)
		m = q
	case TypeBlobs:
		r := &Blobs{}
		n := d.count("items", MaxGetIDs, 9)
		if d.err == nil {
			r.Items = make([]BlobItem, n)
			for i := range r.Items {
				it := BlobItem{Code: Code(d.u16("code")), Message: d.str("message", MaxString), Codec: d.u8("codec"), Bundle: d.u16("bundle"), Data: d.bytes32("data", MaxPayload)}
				if it.Bundle != 0 && (it.Code != 0 || it.Codec != 0 || len(it.Data) != 0) {
					d.fail("item %d: a bundle member with code %d, codec %d, %d bytes of data", i, it.Code, it.Codec, len(it.Data))
				}
				r.Items[i] = it
			}
		}
		if nb := d.count("bundles", MaxGetIDs, BundleRefSize); d.err == nil {
			if nb > 0 { // none: nil, as a reply without bundles is built
				r.Bundles = make([]BundleRef, nb)
			}
			for i := range r.Bundles {
				copy(r.Bundles[i][:], d.take(BundleRefSize, "bundle"))
			}
			for i, it := range r.Items {
				if int(it.Bundle) > nb {
					d.fail("item %d names bundle %d of %d", i, it.Bundle, nb)
					break
				}
			}
		}
		m = r
	case TypeFlush:
		m = &Flush{}
	case TypeFlushOK:
		m = &FlushOK{}
	case TypeCommit:
		m = &Commit{Snapshot: d.rest()}
		if len(m.(*Commit).Snapshot) > MaxSnapshot {
			d.fail("snapshot of %d bytes, limit %d", len(m.(*Commit).Snapshot), MaxSnapshot)
		}
	case TypeCommitted:
		m = &Committed{ID: d.id("ID")}
	case TypeListSnapshots:
		m = &ListSnapshots{}
	case TypeSnapshots:
		s := &Snapshots{}
		n := d.count("snapshots", MaxSnapshots, fingerprint.Size+4)
		if d.err == nil {
			s.Items = make([]SnapshotItem, n)
			for i := range s.Items {
				s.Items[i] = SnapshotItem{ID: d.id("ID"), JSON: d.bytes32("snapshot", MaxSnapshot)}
			}
		}
		m = s
	case TypeOpenSnapshot:
		m = &OpenSnapshot{ID: d.id("ID"), Verify: d.boolean("verify")}
	case TypeSnapshotInfo:
		m = &SnapshotInfo{Intact: d.boolean("intact"), JSON: d.bytes32("snapshot", MaxSnapshot)}
	case TypeBeginJob:
		j := &BeginJob{Kind: d.str("kind", 64), Hostname: d.str("hostname", MaxString), Parent: d.id("parent")}
		n := d.count("paths", MaxPaths, 2)
		if d.err == nil {
			j.Paths = make([]string, n)
			for i := range j.Paths {
				j.Paths[i] = d.str("path", MaxString)
			}
		}
		m = j
	case TypeJobStarted:
		m = &JobStarted{JobID: d.str("job ID", 256)}
	case TypeProgress:
		m = &Progress{Files: d.u64("files"), Dirs: d.u64("dirs"), BytesSeen: d.u64("bytes seen"),
			BytesRead: d.u64("bytes read"), BytesNew: d.u64("bytes new"), ElapsedNS: d.u64("elapsed")}
	case TypeSkipped:
		s := &Skipped{}
		n := d.count("items", MaxSkipped, 4)
		if d.err == nil {
			s.Items = make([]SkippedItem, n)
			for i := range s.Items {
				s.Items[i] = SkippedItem{Path: d.str("path", MaxString), Reason: d.str("reason", MaxString)}
			}
		}
		m = s
	case TypeEndJob:
		m = &EndJob{Failed: d.boolean("failed"), Reason: d.str("reason", MaxString)}
	case TypeAck:
		m = &Ack{}
	case TypeEnrol:
		m = &Enrol{Secret: d.bytes16("secret", MaxToken), PublicKey: d.bytes16("public key", MaxCert)}
	case TypeEnrolled:
		m = &Enrolled{Certificate: d.bytes16("certificate", MaxCert), CA: d.bytes16("CA", MaxCert)}
	default:
		return nil, fmt.Errorf("%w: unknown message type %d", ErrFrame, uint8(t))
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return m, nil
}

// Hello opens every session (after the TLS handshake), agent to vault.
// Client is the name the agent believes it has; the vault uses the name
// in the certificate and refuses a Hello whose claim differs.
type Hello struct {
	Version uint16
	Agent   string // agent software version, for logs
	Client  string
	Flags   uint8 // HelloCompresses
}

// HelloCompresses says the agent compresses what it sends: a blob it
// sends uncompressed (codec none) did not compress, and the vault stores
// it as it came instead of trying again. Without it (an agent run with
// compression off) the vault compresses what it stores.
const HelloCompresses uint8 = 1

// HelloOK answers Hello. It carries the two keys an agent needs to chunk
// and fingerprint at the source (never the keys that seal data); it does
// not print them.
type HelloOK struct {
	Version        uint16
	VaultID        string
	Client         string // the authenticated client name
	Chunker        chunker.Params
	GearSeed       [32]byte
	FingerprintKey [32]byte
	MaxPayload     uint32 // largest frame payload the vault accepts
	MaxInFlight    uint32 // request bytes the vault buffers per connection
	MaxHaveIDs     uint32 // IDs per HaveQuery
	// BundleBelow and BundleSize: the vault stores data blobs smaller
	// than BundleBelow in bundles of about BundleSize bytes, compressed
	// whole; an agent sends such blobs in bundles it forms (PutBundle).
	// Zero BundleBelow: the vault does not bundle.
	BundleBelow, BundleSize uint32
}

// Format prints h without its keys.
func (h HelloOK) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "HelloOK{Version:%d VaultID:%s Client:%s Chunker:%v MaxPayload:%d MaxInFlight:%d MaxHaveIDs:%d BundleBelow:%d BundleSize:%d keys:redacted}",
		h.Version, h.VaultID, h.Client, h.Chunker, h.MaxPayload, h.MaxInFlight, h.MaxHaveIDs, h.BundleBelow, h.BundleSize)
}

// GoString prints h without its keys.
func (h HelloOK) GoString() string { return fmt.Sprint(h) }

// Code is a stable error code: agents act on codes, people read messages.
type Code uint16

// Error codes.
const (
	CodeInternal        Code = 1  // the vault failed; retry later, see its log
	CodeBadRequest      Code = 2  // malformed or out-of-order request
	CodeUnauthenticated Code = 3  // no valid client certificate
	CodeRevoked         Code = 4  // the client certificate is revoked
	CodeTokenInvalid    Code = 5  // the enrolment token is unknown
	CodeTokenUsed       Code = 6  // the enrolment token was used already
	CodeTokenExpired    Code = 7  // the enrolment token has expired
	CodeIDMismatch      Code = 8  // blob content does not hash to its ID
	CodeNotFound        Code = 9  // no such blob or snapshot
	CodeForbidden       Code = 10 // not this client's to read
	CodeIncomplete      Code = 11 // the snapshot refers to missing blobs
	CodeTooLarge        Code = 12 // over a size limit
	CodeNoJob           Code = 13 // BeginJob first
	CodeUnavailable     Code = 14 // the vault is shutting down; retry
	CodeVersion         Code = 15 // unsupported protocol version
	CodeClientMismatch  Code = 16 // Hello claims another name than the certificate
)

// Error is a failed request. It is also a Go error: errors.Is(err,
// &Error{Code: c}) matches any Error of code c.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("vault: %s (code %d)", e.Message, e.Code) }

// Is matches Errors by code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// HaveQuery asks which of IDs (blobs of BlobType) the vault has.
type HaveQuery struct {
	BlobType uint8
	IDs      []fingerprint.ID
}

// HaveReply answers HaveQuery: Present[i] for IDs[i].
type HaveReply struct{ Present []bool }

// PutBlob sends a blob: its plaintext of Size bytes encoded under Codec
// (engine/seal's codecs; 0: Data is the plaintext). The vault decodes it,
// checks that the plaintext hashes to ID and stores the encoded payload
// as it came.
type PutBlob struct {
	BlobType uint8
	ID       fingerprint.ID
	Codec    uint8
	Size     uint32
	Data     []byte
}

// PutBundle sends small data blobs (each below HelloOK's BundleBelow) as
// one bundle: a bundle plaintext (engine/pack's layout: the members, then
// their table of IDs and lengths) of Size bytes encoded under Codec. The
// vault decodes it, checks every member against its ID and stores the
// payload as the bundle, as it came.
type PutBundle struct {
	Codec uint8
	Size  uint32
	Data  []byte
}

// PutOK answers PutBlob and PutBundle: Stored is the sealed size written,
// 0 if the vault had the blob (or every member).
type PutOK struct{ Stored uint32 }

// GetBlob asks for a blob.
type GetBlob struct {
	BlobType uint8
	ID       fingerprint.ID
}

// Blob answers GetBlob: the blob's payload as stored, encoded under
// Codec (engine/seal's codecs; 0: Data is the plaintext), for the agent
// to decode and check against its ID.
type Blob struct {
	Codec uint8
	Data  []byte
}

// GetBlobs asks for several blobs at once (a restore asks for
// a run of a file's chunks): one round trip, and the vault reads them one
// after another, as they are stored.
type GetBlobs struct {
	BlobType uint8
	IDs      []fingerprint.ID
}

// Blobs answers GetBlobs: one item per ID, in order, and the stored
// bundles whose members the items name (version 4).
type Blobs struct {
	Items   []BlobItem
	Bundles []BundleRef
}

// BundleRefSize is the size of a BundleRef.
const BundleRefSize = 40

// BundleRef is the vault's name for a stored bundle, opaque to the agent:
// it asks for the bundle by it (GetBundle), once, however many items name
// it.
type BundleRef [BundleRefSize]byte

// GetBundle asks for a stored bundle a Blobs reply named; the answer is a
// Blob whose payload decodes to the bundle's plaintext (its members and
// table, engine/pack's bundle format). The vault sends a bundle whole only
// when every member is a blob the client may read.
type GetBundle struct{ Ref BundleRef }

// BlobItem is one blob of a Blobs reply: its payload encoded under Codec,
// as in Blob (Code 0), or why not, as an Error would say. CodeTooLarge:
// the reply was full; ask for it again. Bundle k > 0: the blob is a member
// of the bundle Bundles[k-1] (Codec 0, no Data); the agent gets the
// bundle (GetBundle) and takes the member by its ID from its table.
type BlobItem struct {
	Code    Code
	Message string
	Codec   uint8
	Bundle  uint16
	Data    []byte
}

// Flush asks the vault to make every blob it acknowledged durable.
type Flush struct{}

// FlushOK answers Flush.
type FlushOK struct{}

// Commit sends a snapshot (engine/snapshot JSON) to be saved.
type Commit struct{ Snapshot []byte }

// Committed answers Commit with the saved snapshot's ID.
type Committed struct{ ID fingerprint.ID }

// ListSnapshots asks for the client's snapshots.
type ListSnapshots struct{}

// SnapshotItem is one snapshot: its ID and JSON.
type SnapshotItem struct {
	ID   fingerprint.ID
	JSON []byte
}

// Snapshots answers ListSnapshots.
type Snapshots struct{ Items []SnapshotItem }

// OpenSnapshot opens one of the client's snapshots for reading (restore,
// or the parent of an incremental); Verify asks the vault to check that
// every blob it refers to is present.
type OpenSnapshot struct {
	ID     fingerprint.ID
	Verify bool
}

// SnapshotInfo answers OpenSnapshot. Intact is set only when Verify was
// asked and every referenced blob is present.
type SnapshotInfo struct {
	Intact bool
	JSON   []byte
}

// BeginJob starts the job record of this session. Kind is a jobs.Kind.
type BeginJob struct {
	Kind     string
	Hostname string
	Parent   fingerprint.ID
	Paths    []string
}

// JobStarted answers BeginJob.
type JobStarted struct{ JobID string }

// Progress reports the running counts of the session's job.
type Progress struct {
	Files, Dirs, BytesSeen, BytesRead, BytesNew, ElapsedNS uint64
}

// SkippedItem is an item the agent left out, with the reason.
type SkippedItem struct{ Path, Reason string }

// Skipped reports items the agent left out of the job.
type Skipped struct{ Items []SkippedItem }

// EndJob ends the session's job from the agent's side: Failed with a
// reason, or done (the job of a committed backup, or a restore).
type EndJob struct {
	Failed bool
	Reason string
}

// Ack answers Progress, Skipped and EndJob.
type Ack struct{}

// Enrol asks for a client certificate: the enrolment token's secret and
// the agent's public key (PKIX DER). It does not print the secret.
type Enrol struct {
	Secret    []byte
	PublicKey []byte
}

// Format prints e without its secret.
func (e Enrol) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "Enrol{Secret:redacted PublicKey:%d bytes}", len(e.PublicKey))
}

// GoString prints e without its secret.
func (e Enrol) GoString() string { return fmt.Sprint(e) }

// Enrolled answers Enrol: the client certificate and the vault CA's, DER.
type Enrolled struct{ Certificate, CA []byte }

func (*Hello) Type() Type         { return TypeHello }
func (*HelloOK) Type() Type       { return TypeHelloOK }
func (*Error) Type() Type         { return TypeError }
func (*HaveQuery) Type() Type     { return TypeHaveQuery }
func (*HaveReply) Type() Type     { return TypeHaveReply }
func (*PutBlob) Type() Type       { return TypePutBlob }
func (*PutBundle) Type() Type     { return TypePutBundle }
func (*PutOK) Type() Type         { return TypePutOK }
func (*GetBlob) Type() Type       { return TypeGetBlob }
func (*Blob) Type() Type          { return TypeBlob }
func (*Flush) Type() Type         { return TypeFlush }
func (*FlushOK) Type() Type       { return TypeFlushOK }
func (*Commit) Type() Type        { return TypeCommit }
func (*Committed) Type() Type     { return TypeCommitted }
func (*ListSnapshots) Type() Type { return TypeListSnapshots }
func (*Snapshots) Type() Type     { return TypeSnapshots }
func (*OpenSnapshot) Type() Type  { return TypeOpenSnapshot }
func (*SnapshotInfo) Type() Type  { return TypeSnapshotInfo }
func (*BeginJob) Type() Type      { return TypeBeginJob }
func (*JobStarted) Type() Type    { return TypeJobStarted }
func (*Progress) Type() Type      { return TypeProgress }
func (*Skipped) Type() Type       { return TypeSkipped }
func (*EndJob) Type() Type        { return TypeEndJob }
func (*Ack) Type() Type           { return TypeAck }
func (*Enrol) Type() Type         { return TypeEnrol }
func (*Enrolled) Type() Type      { return TypeEnrolled }
func (*GetBlobs) Type() Type      { return TypeGetBlobs }
func (*GetBundle) Type() Type     { return TypeGetBundle }
func (*Blobs) Type() Type         { return TypeBlobs }

func (m *Hello) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, m.Version)
	b = appendStr(appendStr(b, m.Agent), m.Client)
	if m.Flags != 0 {
		b = append(b, m.Flags)
	}
	return b
}

func (m *HelloOK) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, m.Version)
	b = appendStr(appendStr(b, m.VaultID), m.Client)
	b = binary.BigEndian.AppendUint32(b, uint32(m.Chunker.Min))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Chunker.Avg))
	b = binary.BigEndian.AppendUint32(b, uint32(m.Chunker.Max))
	b = append(b, m.GearSeed[:]...)
	b = append(b, m.FingerprintKey[:]...)
	b = binary.BigEndian.AppendUint32(b, m.MaxPayload)
	b = binary.BigEndian.AppendUint32(b, m.MaxInFlight)
	b = binary.BigEndian.AppendUint32(b, m.MaxHaveIDs)
	b = binary.BigEndian.AppendUint32(b, m.BundleBelow)
	return binary.BigEndian.AppendUint32(b, m.BundleSize)
}

func (m *Error) Append(b []byte) []byte {
	return appendStr(binary.BigEndian.AppendUint16(b, uint16(m.Code)), m.Message)
}

func (m *HaveQuery) Append(b []byte) []byte { return appendIDs(append(b, m.BlobType), m.IDs) }

func (m *HaveReply) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Present)))
	start := len(b)
	b = append(b, make([]byte, (len(m.Present)+7)/8)...)
	for i, p := range m.Present {
		if p {
			b[start+i/8] |= 1 << (i % 8)
		}
	}
	return b
}

func (m *GetBlobs) Append(b []byte) []byte { return appendIDs(append(b, m.BlobType), m.IDs) }

func (m *Blobs) size() int {
	n := 4
	for _, it := range m.Items {
		n += 2 + 2 + len(it.Message) + 1 + 2 + 4 + len(it.Data)
	}
	n += 4
	return n + len(m.Bundles)*BundleRefSize
}

func (m *Blob) size() int    { return 1 + len(m.Data) }
func (m *PutBlob) size() int { return 1 + fingerprint.Size + 1 + 4 + len(m.Data) }
func (m *PutBundle) size() int {
	return 1 + 4 + len(m.Data)
}

func (m *PutBundle) Append(b []byte) []byte { return append(m.appendHead(b), m.Data...) }
func (m *PutBundle) appendHead(b []byte) []byte {
	return binary.BigEndian.AppendUint32(append(b, m.Codec), m.Size)
}
func (m *PutBundle) tail() []byte { return m.Data }

func (m *Blobs) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Items)))
	for _, it := range m.Items {
		b = binary.BigEndian.AppendUint16(b, uint16(it.Code))
		b = binary.BigEndian.AppendUint16(append(appendStr(b, it.Message), it.Codec), it.Bundle)
		b = appendBytes32(b, it.Data)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Bundles)))
	for _, ref := range m.Bundles {
		b = append(b, ref[:]...)
	}
	return b
}

func (m *PutBlob) Append(b []byte) []byte { return append(m.appendHead(b), m.Data...) }
func (m *PutBlob) appendHead(b []byte) []byte {
	b = append(b, m.BlobType)
	b = append(b, m.ID[:]...)
	return binary.BigEndian.AppendUint32(append(b, m.Codec), m.Size)
}
func (m *PutBlob) tail() []byte { return m.Data }

func (m *PutOK) Append(b []byte) []byte   { return binary.BigEndian.AppendUint32(b, m.Stored) }
func (m *GetBlob) Append(b []byte) []byte { return append(append(b, m.BlobType), m.ID[:]...) }

func (m *GetBundle) Append(b []byte) []byte { return append(b, m.Ref[:]...) }
func (m *Blob) Append(b []byte) []byte      { return append(append(b, m.Codec), m.Data...) }
func (*Flush) Append(b []byte) []byte       { return b }
func (*FlushOK) Append(b []byte) []byte     { return b }
func (m *Commit) Append(b []byte) []byte    { return append(b, m.Snapshot...) }
func (m *Committed) Append(b []byte) []byte {
	return append(b, m.ID[:]...)
}
func (*ListSnapshots) Append(b []byte) []byte { return b }

func (m *Snapshots) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Items)))
	for _, it := range m.Items {
		b = append(b, it.ID[:]...)
		b = appendBytes32(b, it.JSON)
	}
	return b
}

func (m *OpenSnapshot) Append(b []byte) []byte {
	return appendBool(append(b, m.ID[:]...), m.Verify)
}

func (m *SnapshotInfo) Append(b []byte) []byte {
	return appendBytes32(appendBool(b, m.Intact), m.JSON)
}

func (m *BeginJob) Append(b []byte) []byte {
	b = appendStr(appendStr(b, m.Kind), m.Hostname)
	b = append(b, m.Parent[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Paths)))
	for _, p := range m.Paths {
		b = appendStr(b, p)
	}
	return b
}

func (m *JobStarted) Append(b []byte) []byte { return appendStr(b, m.JobID) }

func (m *Progress) Append(b []byte) []byte {
	for _, v := range []uint64{m.Files, m.Dirs, m.BytesSeen, m.BytesRead, m.BytesNew, m.ElapsedNS} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func (m *Skipped) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Items)))
	for _, it := range m.Items {
		b = appendStr(appendStr(b, it.Path), it.Reason)
	}
	return b
}

func (m *EndJob) Append(b []byte) []byte { return appendStr(appendBool(b, m.Failed), m.Reason) }
func (*Ack) Append(b []byte) []byte      { return b }
func (m *Enrol) Append(b []byte) []byte {
	return appendBytes16(appendBytes16(b, m.Secret), m.PublicKey)
}
func (m *Enrolled) Append(b []byte) []byte {
	return appendBytes16(appendBytes16(b, m.Certificate), m.CA)
}

// Truncate shortens s to at most MaxString bytes (on a UTF-8 boundary),
// for reasons and messages built from arbitrary errors.
func Truncate(s string) string {
	if len(s) <= MaxString {
		return s
	}
	i := MaxString
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
