package swan

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Plugins is the explicit load list. kdf is mandatory from 5.9.8 on;
// X25519 comes from openssl (Debian ships no curve25519 plugin).
// kernel-libipsec, when used, must come before kernel-netlink: the first
// kernel interface that registers wins.
const plugins = "random nonce openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey gmp hmac kdf gcm aes sha2 %s socket-default vici updown"

// Config is one charon instance.
type Config struct {
	// Name labels the instance in logs and file names ("noc", "vault").
	Name        string
	Connections []Conn
	// Files are written below the instance's swanctl directory, e.g.
	// "x509/noc.crt", "x509ca/ca.crt", "private/noc.key".
	Files map[string][]byte
	// KernelESP uses the kernel's XFRM (kernel-netlink only) for the
	// CHILD_SAs, as in the QEMU guest. Off, userspace ESP (kernel-libipsec)
	// is used, which works on a host kernel without ESP.
	KernelESP bool
	// Charon holds extra strongswan.conf lines for the charon-systemd
	// section, e.g. "retransmit_timeout = 1.0".
	Charon []string
}

// Conn is a swanctl connection.
type Conn struct {
	Name                    string
	LocalAddrs, RemoteAddrs string // "%any" when empty
	Proposals               string // IKE proposals
	LocalID, RemoteID       string
	// PSK selects pre-shared-key authentication; otherwise public key
	// authentication with LocalCert (file under x509/) and RemoteCA (file
	// under x509ca/).
	PSK                 []byte
	LocalCert, RemoteCA string
	Children            []Child
	Extra               []string // extra "key = value" lines of the connection
}

// Child is a CHILD_SA configuration.
type Child struct {
	Name              string
	LocalTS, RemoteTS string
	ESPProposals      string
	Extra             []string
}

func (c Config) strongswanConf(dir string) string {
	kernel := "kernel-libipsec kernel-netlink"
	if c.KernelESP {
		kernel = "kernel-netlink"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "charon-systemd {\n  load = "+plugins+"\n", kernel)
	fmt.Fprintf(&b, "  plugins {\n    vici {\n      socket = unix://%s/charon.vici\n    }\n  }\n", dir)
	b.WriteString("  journal {\n    default = -1\n  }\n")
	fmt.Fprintf(&b, "  filelog {\n    main {\n      path = %s/charon.log\n      time_format = %%s\n      time_add_ms = yes\n      ike_name = yes\n      default = 1\n      ike = 2\n      knl = 2\n      cfg = 2\n      flush_line = yes\n    }\n  }\n", dir)
	for _, l := range c.Charon {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	b.WriteString("}\n")
	return b.String()
}

func line(b *strings.Builder, depth int, format string, args ...any) {
	b.WriteString(strings.Repeat("  ", depth))
	fmt.Fprintf(b, format, args...)
	b.WriteByte('\n')
}

func orAny(s string) string {
	if s == "" {
		return "%any"
	}
	return s
}

// swanctlConf renders the connections and PSK secrets. swanctl.conf values
// run to the end of the line, so every setting gets its own line.
func (c Config) swanctlConf() string {
	var b strings.Builder
	line(&b, 0, "connections {")
	for _, cn := range c.Connections {
		line(&b, 1, "%s {", cn.Name)
		line(&b, 2, "version = 2")
		line(&b, 2, "local_addrs = %s", orAny(cn.LocalAddrs))
		line(&b, 2, "remote_addrs = %s", orAny(cn.RemoteAddrs))
		if cn.Proposals != "" {
			line(&b, 2, "proposals = %s", cn.Proposals)
		}
		for _, l := range cn.Extra {
			line(&b, 2, "%s", l)
		}
		auth := "psk"
		if cn.PSK == nil {
			auth = "pubkey"
		}
		line(&b, 2, "local {")
		line(&b, 3, "auth = %s", auth)
		line(&b, 3, "id = %s", cn.LocalID)
		if auth == "pubkey" && cn.LocalCert != "" {
			line(&b, 3, "certs = %s", cn.LocalCert)
		}
		line(&b, 2, "}")
		line(&b, 2, "remote {")
		line(&b, 3, "auth = %s", auth)
		line(&b, 3, "id = %s", cn.RemoteID)
		if auth == "pubkey" && cn.RemoteCA != "" {
			line(&b, 3, "cacerts = %s", cn.RemoteCA)
		}
		line(&b, 2, "}")
		line(&b, 2, "children {")
		for _, ch := range cn.Children {
			line(&b, 3, "%s {", ch.Name)
			line(&b, 4, "local_ts = %s", ch.LocalTS)
			line(&b, 4, "remote_ts = %s", ch.RemoteTS)
			if ch.ESPProposals != "" {
				line(&b, 4, "esp_proposals = %s", ch.ESPProposals)
			}
			for _, l := range ch.Extra {
				line(&b, 4, "%s", l)
			}
			line(&b, 3, "}")
		}
		line(&b, 2, "}")
		line(&b, 1, "}")
	}
	line(&b, 0, "}")
	line(&b, 0, "secrets {")
	for _, cn := range c.Connections {
		if cn.PSK == nil {
			continue
		}
		line(&b, 1, "ike-%s {", cn.Name)
		line(&b, 2, "id-local = %s", cn.LocalID)
		line(&b, 2, "id-remote = %s", cn.RemoteID)
		line(&b, 2, "secret = 0s%s", base64.StdEncoding.EncodeToString(cn.PSK))
		line(&b, 1, "}")
	}
	line(&b, 0, "}")
	return b.String()
}

// Charon is a running charon-systemd.
type Charon struct {
	Name string
	NS   *NS
	Dir  string // strongswan.conf, charon.log, charon.vici, swanctl/
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start writes the configuration into a fresh directory, starts
// charon-systemd in ns, waits for its vici socket and loads the
// configuration with `swanctl --load-all`. Cleanup stops the daemon and,
// if the test failed, prints the tail of charon's log.
func Start(t testing.TB, ns *NS, cfg Config) *Charon {
	t.Helper()
	RequireTools(t)
	// The vici socket path must fit sockaddr_un (108 bytes); t.TempDir
	// paths are too long for that, so use a short directory of our own.
	dir, err := os.MkdirTemp("", "swan-"+cfg.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Charon{Name: cfg.Name, NS: ns, Dir: dir, done: make(chan struct{})}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Logf("charon %s log (%s), last lines:\n%s", c.Name, dir, tail(c.Log(), 60))
			return // keep the directory for a post-mortem
		}
		os.RemoveAll(dir)
	})
	files := map[string][]byte{
		"strongswan.conf":      []byte(cfg.strongswanConf(dir)),
		"swanctl/swanctl.conf": []byte(cfg.swanctlConf()),
	}
	for _, sub := range []string{"x509", "x509ca", "private", "conf.d"} {
		if err := os.MkdirAll(filepath.Join(dir, "swanctl", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range cfg.Files {
		files[filepath.Join("swanctl", name)] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	c.cmd = exec.Command("ip", "netns", "exec", ns.Name, "/usr/sbin/charon-systemd")
	c.cmd.Env = append(os.Environ(), c.env()...)
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start charon-systemd in %s: %v", ns.Name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "charon.vici")); err == nil {
			break
		}
		select {
		case <-c.done:
			b, _ := os.ReadFile(filepath.Join(dir, "charon.out"))
			t.Fatalf("charon %s exited at start (%v): %s\n%s", c.Name, c.err, b, tail(c.Log(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("charon %s: no vici socket after 15 s\n%s", c.Name, tail(c.Log(), 30))
		}
	}
	if out, err := c.Swanctl("--load-all", "--noprompt"); err != nil {
		t.Fatalf("charon %s: %v\n%s", c.Name, err, out)
	}
	return c
}

func (c *Charon) env() []string {
	return []string{"STRONGSWAN_CONF=" + filepath.Join(c.Dir, "strongswan.conf"), "SWANCTL_DIR=" + filepath.Join(c.Dir, "swanctl")}
}

// Swanctl runs swanctl against this daemon's vici socket (the --uri comes
// after the command, as swanctl requires) and returns its output. swanctl
// needs no namespace: vici is a unix socket in the file system.
func (c *Charon) Swanctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", append(args, "--uri", "unix://"+filepath.Join(c.Dir, "charon.vici"))...)
	cmd.Env = append(os.Environ(), c.env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("swanctl %s (%s): %w: %s", strings.Join(args, " "), c.Name, err, noiseless(stdout.String()+stderr.String()))
	}
	return stdout.String(), nil
}

// noiseless drops swanctl's plugin and directory warnings.
func noiseless(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "plugin '") || strings.HasPrefix(l, "opening directory") || strings.Contains(l, "TPM 2.0") || strings.TrimSpace(l) == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// Initiate brings up a CHILD_SA (and its IKE_SA) and waits for the result.
func (c *Charon) Initiate(child string) (string, error) {
	return c.Swanctl("--initiate", "--child", child, "--timeout", "20")
}

// InitiateIKE brings up an IKE_SA without CHILD_SAs beyond those
// negotiated with it.
func (c *Charon) InitiateIKE(ike string) (string, error) {
	return c.Swanctl("--initiate", "--ike", ike, "--timeout", "20")
}

// Terminate deletes an IKE_SA (and its CHILD_SAs), sending a Delete.
func (c *Charon) Terminate(ike string) error {
	_, err := c.Swanctl("--terminate", "--ike", ike, "--timeout", "20")
	return err
}

// RekeyChild starts a CHILD_SA rekey (asynchronously: watch ListSAs or
// the log for the result).
func (c *Charon) RekeyChild(child string) error {
	_, err := c.Swanctl("--rekey", "--child", child)
	return err
}

// RekeyIKE starts an IKE_SA rekey (asynchronously).
func (c *Charon) RekeyIKE(ike string) error {
	_, err := c.Swanctl("--rekey", "--ike", ike)
	return err
}

// ListSAs returns the daemon's IKE_SAs with their CHILD_SAs.
func (c *Charon) ListSAs() ([]IKESA, error) {
	out, err := c.Swanctl("--list-sas", "--pretty")
	if err != nil {
		return nil, err
	}
	return ParseSAs(out)
}

// Log returns charon's log so far.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.log"))
	return string(b)
}

// WaitLog waits until the log matches re and returns the first match.
func (c *Charon) WaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		if m := re.FindString(c.Log()); m != "" {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("charon %s: log never matched %q: %w", c.Name, re, ctx.Err())
		case <-c.done:
			if m := re.FindString(c.Log()); m != "" {
				return m, nil
			}
			return "", fmt.Errorf("charon %s exited (%v) before its log matched %q", c.Name, c.err, re)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop terminates the daemon (SIGTERM, then SIGKILL after 5 s). Safe to
// call twice.
func (c *Charon) Stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// Kill kills the daemon without letting it send Deletes (peer death).
func (c *Charon) Kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log lines: time_format = %s with time_add_ms and ike_name give
// "1733212345.678 09[IKE] <noc|3> initiating IKE_SA noc[3] to ...".
var (
	logStamp     = regexp.MustCompile(`^(\d+)\.(\d{3}) `)
	initiatingRE = regexp.MustCompile(`\[IKE\] <([^>]+)> initiating IKE_SA `)
	childUpRE    = regexp.MustCompile(`\[IKE\] <([^>]+)> CHILD_SA \S+ established`)
)

func stamp(l string) (time.Time, bool) {
	m := logStamp.FindStringSubmatch(l)
	if m == nil {
		return time.Time{}, false
	}
	s, err1 := strconv.ParseInt(m[1], 10, 64)
	ms, err2 := strconv.ParseInt(m[2], 10, 64) // "035" is decimal, not octal
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	return time.Unix(s, ms*int64(time.Millisecond)), true
}

// SetupTimes reads an initiator's log and returns, in order of
// completion, the time from each "initiating IKE_SA" line to the first
// "CHILD_SA ... established" line of the same IKE_SA (matched by the
// <name|id> prefix), from charon's millisecond timestamps. IKE_SAs that
// established no CHILD_SA (IKE rekeys, failures) are skipped.
func SetupTimes(log string) ([]time.Duration, error) {
	var out []time.Duration
	started := map[string]time.Time{}
	for _, l := range strings.Split(log, "\n") {
		m := initiatingRE.FindStringSubmatch(l)
		up := m == nil
		if up {
			m = childUpRE.FindStringSubmatch(l)
		}
		if m == nil {
			continue
		}
		ts, ok := stamp(l)
		if !ok {
			return nil, errors.New("swan: log lines carry no timestamps (filelog time_format)")
		}
		if !up {
			started[m[1]] = ts
		} else if start, ok := started[m[1]]; ok {
			out = append(out, ts.Sub(start))
			delete(started, m[1])
		}
	}
	return out, nil
}
