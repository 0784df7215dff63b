// Command ifidprobe answers one question on a real kernel (the NOC guest):
// does xfrm.Netlink.UpdateSA complete the larval SA that AllocSPI reserved
// when the update carries an if_id (route-based, xfrm interface) that the
// larval SA does not have? It runs in the caller's network namespace, prints
// what it finds as "key: value" lines and exits non-zero on any surprise.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"keep/ipsec/xfrm"
)

func main() {
	if err := probe(); err != nil {
		fmt.Println("result: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("result: PASS")
}

func ipXfrmState() string {
	out, err := exec.Command("ip", "-d", "xfrm", "state").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("ip xfrm state: %v: %s", err, out)
	}
	return string(out)
}

func probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := xfrm.Open(xfrm.Options{})
	if err != nil {
		return err
	}
	defer k.Close()
	o := k.Owner()
	ifid := o.IfIDs[0]
	local := netip.MustParseAddr("198.51.100.2")
	peer := netip.MustParseAddr("198.51.100.1")
	reqid := o.ReqidMin + 7
	key := make([]byte, xfrm.AEADKeyLen)
	for i := range key {
		key[i] = byte(0xa0 + i)
	}
	spi, err := k.AllocSPI(ctx, peer, local, xfrm.ProtoESP, reqid)
	if err != nil {
		return fmt.Errorf("AllocSPI: %w", err)
	}
	fmt.Printf("allocspi: 0x%08x\n", spi)
	fmt.Printf("--- after AllocSPI ---\n%s", ipXfrmState())
	in := xfrm.SA{Src: peer, Dst: local, SPI: spi, Reqid: reqid, IfID: ifid, Key: key,
		ESN: true, ReplayWindow: 128, Encap: &xfrm.Encap{SrcPort: 4500, DstPort: 4500}}
	if err := k.UpdateSA(ctx, in); err != nil {
		fmt.Printf("updatesa_ifid: error: %v\n", err)
		return fmt.Errorf("UpdateSA with if_id %#x of the larval SA: %w", ifid, err)
	}
	fmt.Println("updatesa_ifid: ok")
	state := ipXfrmState()
	fmt.Printf("--- after UpdateSA ---\n%s", state)
	ids, err := k.SAs(ctx)
	if err != nil {
		return fmt.Errorf("SAs: %w", err)
	}
	fmt.Printf("sa_count: %d\n", len(ids))
	if len(ids) != 1 {
		return fmt.Errorf("want exactly 1 SA after the update (larval replaced), have %d: %v", len(ids), ids)
	}
	wantIfID := fmt.Sprintf("if_id %#x", ifid)
	if !strings.Contains(state, wantIfID) {
		return fmt.Errorf("state has no %q", wantIfID)
	}
	if !strings.Contains(state, "rfc4106(gcm(aes))") {
		return fmt.Errorf("state has no rfc4106 AEAD: larval SA not completed")
	}
	if _, err := k.SAStats(ctx, in.ID()); err != nil {
		return fmt.Errorf("SAStats: %w", err)
	}
	if err := k.DeleteSA(ctx, in.ID()); err != nil {
		return fmt.Errorf("DeleteSA: %w", err)
	}
	return nil
}
