package noc

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// PSKSite is one end of a strongSwan site-to-site tunnel authenticated with
// a pre-shared key: what the NOC (or a stand-in vault) runs in a guest.
type PSKSite struct {
	Conn, Child       string       // connection and child names
	Local, Remote     netip.Addr   // outer (WAN) addresses
	LocalID, RemoteID string       // IKE identities (FQDNs)
	LocalTS, RemoteTS netip.Prefix // inner traffic selectors
	PSK               []byte       // the shared secret
	// Proposals (IKE) and ESPProposals; defaults below.
	Proposals, ESPProposals string
	// Extra lines for the connection section (e.g. "dpd_delay = 5s").
	Extra []string
}

// Default proposals: Keep's suite, AES-256-GCM-16 with PRF SHA-384 and
// ECP-384 (the CHILD_SA's DH group is used for PFS on rekey).
const (
	DefaultProposals    = "aes256gcm16-prfsha384-ecp384"
	DefaultESPProposals = "aes256gcm16-ecp384"
)

// SwanctlConf renders the site as a swanctl.conf fragment (a file for
// /etc/swanctl/conf.d/).
func (s PSKSite) SwanctlConf() string {
	prop, esp := s.Proposals, s.ESPProposals
	if prop == "" {
		prop = DefaultProposals
	}
	if esp == "" {
		esp = DefaultESPProposals
	}
	var b strings.Builder
	fmt.Fprintf(&b, "connections {\n  %s {\n    version = 2\n    local_addrs = %s\n    remote_addrs = %s\n", s.Conn, s.Local, s.Remote)
	fmt.Fprintf(&b, "    proposals = %s\n", prop)
	for _, l := range s.Extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, "    local {\n      auth = psk\n      id = %s\n    }\n    remote {\n      auth = psk\n      id = %s\n    }\n", s.LocalID, s.RemoteID)
	fmt.Fprintf(&b, "    children {\n      %s {\n        local_ts = %s\n        remote_ts = %s\n        esp_proposals = %s\n        mode = tunnel\n      }\n    }\n  }\n}\n",
		s.Child, s.LocalTS, s.RemoteTS, esp)
	fmt.Fprintf(&b, "secrets {\n  ike-%s {\n    id-local = %s\n    id-remote = %s\n    secret = 0s%s\n  }\n}\n",
		s.Conn, s.LocalID, s.RemoteID, base64.StdEncoding.EncodeToString(s.PSK))
	return b.String()
}

// startCharon starts charon-systemd in the background (output in
// /var/log/charon.out, log in CharonLog), waits for its vici socket and
// loads /etc/swanctl with swanctl --load-all.
const startCharon = `set -e
rm -f ` + CharonLog + `
charon-systemd >/var/log/charon.out 2>&1 &
echo $! >/run/charon.pid
for i in $(seq 300); do
	[ -S ` + CharonVici + ` ] && break
	kill -0 $(cat /run/charon.pid) 2>/dev/null || { echo "charon-systemd exited"; cat /var/log/charon.out; exit 1; }
	sleep 0.1
done
[ -S ` + CharonVici + ` ] || { echo "no vici socket after 30 s"; exit 1; }
swanctl --load-all
`

// StartCharon starts strongSwan's charon-systemd with the image's
// /etc/strongswan.conf and loads /etc/swanctl (put configurations into
// /etc/swanctl/conf.d/ with Options.Files or WriteFile first).
func (vm *VM) StartCharon(ctx context.Context) (string, error) {
	r, err := vm.Run(ctx, startCharon)
	if err != nil {
		return "", err
	}
	if r.Exit != 0 {
		log, _ := vm.ReadFile(ctx, CharonLog)
		return r.Stdout, fmt.Errorf("start charon: %s\n--- %s ---\n%s", r, CharonLog, log)
	}
	return r.Stdout, nil
}

// Swanctl runs swanctl with args in the guest and returns its output; a
// non-zero exit is an error carrying the output.
func (vm *VM) Swanctl(ctx context.Context, args ...string) (string, error) {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	r, err := vm.Run(ctx, "swanctl "+strings.Join(q, " "))
	if err != nil {
		return "", err
	}
	if r.Exit != 0 {
		return r.Stdout, fmt.Errorf("swanctl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout, nil
}

// CharonLogText returns the guest's charon log.
func (vm *VM) CharonLogText(ctx context.Context) (string, error) {
	b, err := vm.ReadFile(ctx, CharonLog)
	return string(b), err
}

// logTime matches the timestamp DefaultStrongswanConf's filelog writes.
var logTime = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) `)

// LogStamp parses a charon log line's millisecond timestamp.
func LogStamp(line string) (time.Time, bool) {
	m := logTime.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, false
	}
	ts, err := time.Parse("2006-01-02 15:04:05.000", m[1])
	return ts, err == nil
}

// SetupTime reads an initiator's charon log and returns the time from its
// first "initiating IKE_SA" line to the first "CHILD_SA … established"
// line after it, by charon's millisecond timestamps.
func SetupTime(log string) (time.Duration, error) {
	ds, err := SetupTimes(log)
	if len(ds) > 0 {
		return ds[0], nil
	}
	return 0, err
}

// SetupTimes returns the setup time (see SetupTime) of every IKE_SA the
// log shows being initiated and getting a CHILD_SA, in order.
func SetupTimes(log string) ([]time.Duration, error) {
	var out []time.Duration
	var start time.Time
	seen := false
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, ok := LogStamp(line)
		if !ok {
			continue
		}
		switch {
		case start.IsZero() && strings.Contains(line, "initiating IKE_SA"):
			start, seen = ts, true
		case !start.IsZero() && strings.Contains(line, "CHILD_SA") && strings.Contains(line, "established"):
			out = append(out, ts.Sub(start))
			start = time.Time{}
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case !seen:
		return nil, fmt.Errorf("no \"initiating IKE_SA\" line with a timestamp in the log")
	default:
		return nil, fmt.Errorf("no CHILD_SA established after the IKE_SA was initiated")
	}
}
