package swan

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// IKESA is one entry of `swanctl --list-sas`.
type IKESA struct {
	Name                     string // connection name
	UniqueID                 int
	State                    string // CONNECTING, ESTABLISHED, REKEYING, DELETING...
	LocalHost, RemoteHost    string
	LocalPort, RemotePort    int
	LocalID, RemoteID        string
	InitiatorSPI             string // hex
	ResponderSPI             string
	Initiator                bool // this side initiated
	NATLocal, NATRemote      bool
	EncrAlg                  string // AES_GCM_16
	EncrKeysize              int
	PRFAlg                   string // PRF_HMAC_SHA2_384
	DHGroup                  string // ECP_384, CURVE_25519
	Children                 []ChildSA
	Raw                      map[string]string // every scalar, as listed
	TasksActive, TasksQueued []string
}

// ChildSA is a CHILD_SA of an IKESA.
type ChildSA struct {
	Name              string // configured child name
	UniqueID, Reqid   int
	State             string // INSTALLED, REKEYED, DELETING...
	Mode, Protocol    string // TUNNEL, ESP
	Encap             bool   // ESP-in-UDP
	SPIIn, SPIOut     string // hex
	EncrAlg           string
	EncrKeysize       int
	DHGroup           string // set when the CHILD_SA was made with PFS
	ESN               bool
	BytesIn, BytesOut uint64
	PacketsIn         uint64
	PacketsOut        uint64
	LocalTS, RemoteTS []string
	Raw               map[string]string
}

// node is a section of vici's pretty output.
type node struct {
	name     string
	kv       map[string]string
	lists    map[string][]string
	children []*node
}

func newNode(name string) *node {
	return &node{name: name, kv: map[string]string{}, lists: map[string][]string{}}
}

// parsePretty reads `swanctl ... --pretty` output: "name {" opens a
// section, "}" closes it, "key = value" is a scalar (the value runs to the
// end of the line, so distinguished names with spaces survive, unlike in
// --raw), "key = [" opens a list of one value per line up to "]".
func parsePretty(s string) (*node, error) {
	root := newNode("")
	stack := []*node{root}
	var list string
	inList := false
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		cur := stack[len(stack)-1]
		switch {
		case l == "":
		case inList && l == "]":
			inList = false
		case inList:
			cur.lists[list] = append(cur.lists[list], l)
		case l == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("swan: line %d: unbalanced }", n)
			}
			stack = stack[:len(stack)-1]
		case strings.HasSuffix(l, " = ["):
			list, inList = strings.TrimSuffix(l, " = ["), true
			cur.lists[list] = []string{}
		case strings.HasSuffix(l, " {") || l == "{":
			child := newNode(strings.TrimSpace(strings.TrimSuffix(l, "{")))
			cur.children = append(cur.children, child)
			stack = append(stack, child)
		case strings.Contains(l, " = "):
			k, v, _ := strings.Cut(l, " = ")
			cur.kv[k] = v
		default:
			// swanctl's plugin warnings and similar noise.
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(stack) != 1 || inList {
		return nil, fmt.Errorf("swan: truncated listing")
	}
	return root, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// ParseSAs parses `swanctl --list-sas --pretty`.
func ParseSAs(out string) ([]IKESA, error) {
	root, err := parsePretty(out)
	if err != nil {
		return nil, err
	}
	var sas []IKESA
	for _, ev := range root.children {
		if ev.name != "list-sa event" {
			continue
		}
		for _, ike := range ev.children {
			sa := IKESA{
				Name:         ike.name,
				UniqueID:     atoi(ike.kv["uniqueid"]),
				State:        ike.kv["state"],
				LocalHost:    ike.kv["local-host"],
				LocalPort:    atoi(ike.kv["local-port"]),
				RemoteHost:   ike.kv["remote-host"],
				RemotePort:   atoi(ike.kv["remote-port"]),
				LocalID:      ike.kv["local-id"],
				RemoteID:     ike.kv["remote-id"],
				InitiatorSPI: ike.kv["initiator-spi"],
				ResponderSPI: ike.kv["responder-spi"],
				Initiator:    ike.kv["initiator"] == "yes",
				NATLocal:     ike.kv["nat-local"] == "yes",
				NATRemote:    ike.kv["nat-remote"] == "yes",
				EncrAlg:      ike.kv["encr-alg"],
				EncrKeysize:  atoi(ike.kv["encr-keysize"]),
				PRFAlg:       ike.kv["prf-alg"],
				DHGroup:      ike.kv["dh-group"],
				Raw:          ike.kv,
				TasksActive:  ike.lists["tasks-active"],
				TasksQueued:  ike.lists["tasks-queued"],
			}
			for _, sec := range ike.children {
				if sec.name != "child-sas" {
					continue
				}
				for _, ch := range sec.children {
					sa.Children = append(sa.Children, ChildSA{
						Name:        ch.kv["name"],
						UniqueID:    atoi(ch.kv["uniqueid"]),
						Reqid:       atoi(ch.kv["reqid"]),
						State:       ch.kv["state"],
						Mode:        ch.kv["mode"],
						Protocol:    ch.kv["protocol"],
						Encap:       ch.kv["encap"] == "yes",
						SPIIn:       ch.kv["spi-in"],
						SPIOut:      ch.kv["spi-out"],
						EncrAlg:     ch.kv["encr-alg"],
						EncrKeysize: atoi(ch.kv["encr-keysize"]),
						DHGroup:     ch.kv["dh-group"],
						ESN:         ch.kv["esn"] == "1" || ch.kv["esn"] == "yes",
						BytesIn:     atou(ch.kv["bytes-in"]),
						BytesOut:    atou(ch.kv["bytes-out"]),
						PacketsIn:   atou(ch.kv["packets-in"]),
						PacketsOut:  atou(ch.kv["packets-out"]),
						LocalTS:     ch.lists["local-ts"],
						RemoteTS:    ch.lists["remote-ts"],
						Raw:         ch.kv,
					})
				}
			}
			sas = append(sas, sa)
		}
	}
	return sas, nil
}

// Find returns the IKE_SA of the named connection, if any.
func Find(sas []IKESA, conn string) (IKESA, bool) {
	for _, sa := range sas {
		if sa.Name == conn {
			return sa, true
		}
	}
	return IKESA{}, false
}
