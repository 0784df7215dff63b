package qemu

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OpenIPMI's ipmi_sim (Debian package openipmi) as an external BMC behind
// ipmi-bmc-extern: unlike QEMU's ipmi-bmc-sim it has a LAN channel (1),
// so Keep's LAN configuration can be set and read back. Its RMCP+ port
// and its KCS socket listen on loopback only.

// Credentials of ipmi_sim's admin user for RMCP+ from the host.
const (
	ipmiSimUser     = "admin"
	ipmiSimPassword = "secret"
	// ipmiSimLANChannel is the channel of lan.conf's startlan.
	ipmiSimLANChannel = 1
	// ipmiSimStartTimeout bounds the wait for ipmi_sim's listeners.
	ipmiSimStartTimeout = 15 * time.Second
)

// ipmiSim is a running ipmi_sim; the test's cleanup stops it.
type ipmiSim struct {
	LANPort int // UDP, RMCP/RMCP+ on 127.0.0.1
	KCSPort int // TCP, the "VM" codec QEMU's ipmi-bmc-extern speaks
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// ipmiSimConfig is the lan.conf for the two ports (the recipe of
// shared/notes/qemu.md §2).
func ipmiSimConfig(lanPort, kcsPort int) string {
	return fmt.Sprintf(`name "keeptest"
set_working_mc 0x20
  startlan %d
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  serial kcs 127.0.0.1 %d codec VM
  startnow false
  user 2 true "%s" "%s" admin 10 none md2 md5 straight
`, ipmiSimLANChannel, lanPort, kcsPort, ipmiSimUser, ipmiSimPassword)
}

// ipmiSimEmu is the sim.emu: one BMC at 0x20 with a SEL of 1000 entries.
const ipmiSimEmu = `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
`

// freeLoopbackPorts returns a TCP and a UDP port on 127.0.0.1 that were
// free a moment ago (startIPMISim retries if ipmi_sim loses the race).
func freeLoopbackPorts(t testing.TB) (tcp, udp int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return l.Addr().(*net.TCPAddr).Port, p.LocalAddr().(*net.UDPAddr).Port
}

// startIPMISim runs ipmi_sim with a generated configuration in dir (made
// if needed) on free loopback ports, waits until it listens, and stops it
// when the test ends. A missing ipmi_sim fails the test: it is a declared
// dependency (scripts/deps.sh).
func startIPMISim(t testing.TB, dir string) *ipmiSim {
	t.Helper()
	bin, err := exec.LookPath("ipmi_sim")
	if err != nil {
		t.Fatalf("ipmi_sim not found (%v): it is the external BMC of this scenario; run `make deps` (Debian package openipmi)", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		kcs, lan := freeLoopbackPorts(t)
		s, err := runIPMISim(bin, dir, lan, kcs)
		if err == nil {
			t.Cleanup(s.stop)
			t.Logf("ipmi_sim: RMCP+ on 127.0.0.1:%d/udp, KCS (VM codec) on 127.0.0.1:%d/tcp", lan, kcs)
			return s
		}
		lastErr = err
	}
	t.Fatalf("ipmi_sim did not start: %v", lastErr)
	return nil
}

func runIPMISim(bin, dir string, lanPort, kcsPort int) (*ipmiSim, error) {
	conf, emu := filepath.Join(dir, "lan.conf"), filepath.Join(dir, "sim.emu")
	if err := os.WriteFile(conf, []byte(ipmiSimConfig(lanPort, kcsPort)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(emu, []byte(ipmiSimEmu), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "ipmi_sim.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// -n: no console on stdio; -p: no persistent state between runs.
	cmd := exec.Command(bin, "-c", conf, "-f", emu, "-s", filepath.Join(dir, "state"), "-n", "-p")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	s := &ipmiSim{LANPort: lanPort, KCSPort: kcsPort, Dir: dir, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	ctx, cancel := context.WithTimeout(context.Background(), ipmiSimStartTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		tcpOK := listening("/proc/net/tcp", kcsPort, "0A") // TCP_LISTEN
		udpOK := listening("/proc/net/udp", lanPort, "07") // UDP bound (TCP_CLOSE)
		if tcpOK && udpOK {
			return s, nil
		}
		select {
		case <-s.exited:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("ipmi_sim exited (%v) before listening on 127.0.0.1:%d/tcp and :%d/udp:\n%s", cmd.ProcessState, kcsPort, lanPort, b)
		case <-ctx.Done():
			s.stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("ipmi_sim not listening on 127.0.0.1:%d/tcp (%v) and :%d/udp (%v) after %v:\n%s", kcsPort, tcpOK, lanPort, udpOK, ipmiSimStartTimeout, b)
		case <-tick.C:
		}
	}
}

// listening reports whether /proc/net/{tcp,udp} has a socket bound to
// 127.0.0.1:port in state st (hex, as the kernel prints it).
func listening(table string, port int, st string) bool {
	f, err := os.Open(table)
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 3 && fs[1] == want && fs[3] == st {
			return true
		}
	}
	return false
}

// stop kills ipmi_sim's process group and waits for it.
func (s *ipmiSim) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

// hostIPMITool runs the host's ipmitool against ipmi_sim over RMCP+ on
// loopback (an out-of-band view of the same BMC).
func (s *ipmiSim) hostIPMITool(ctx context.Context, args ...string) (string, error) {
	// -C 3 (HMAC-SHA1, AES): ipmi_sim lacks Get Channel Cipher Suites, and
	// ipmitool's fallback without -C costs about ten seconds.
	argv := append([]string{"-I", "lanplus", "-H", "127.0.0.1", "-p", strconv.Itoa(s.LANPort),
		"-U", ipmiSimUser, "-P", ipmiSimPassword, "-C", "3"}, args...)
	out, err := exec.CommandContext(ctx, "ipmitool", argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("host ipmitool %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
