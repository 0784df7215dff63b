package config

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestDefaultsValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("compiled-in defaults do not validate: %v", err)
	}
}

func TestParseNamesTheBadField(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string // substring of the error; "" means valid
	}{
		{"empty document keeps defaults", "", ""},
		{"hostname", "appliance: {hostname: vault-1}", ""},
		{"bad hostname", "appliance: {hostname: Bad_Host}", "appliance.hostname: \"Bad_Host\" is not a host name"},
		{"bad listen", "api: {listen: nowhere}", "api.listen: \"nowhere\" is not host:port"},
		{"relative socket", "api: {socket: api.sock}", "api.socket: \"api.sock\" is not an absolute path"},
		{"bad address", "network: {ethernets: {eth0: {addresses: [10.0.2.300/24]}}}", "network.ethernets.eth0.addresses[0]: \"10.0.2.300/24\""},
		{"bad route", "network: {ethernets: {eth1: {routes: [{to: somewhere, via: 10.0.0.1}]}}}", "network.ethernets.eth1.routes[0].to"},
		{"bad gateway", "network: {ethernets: {eth1: {routes: [{to: default, via: gw}]}}}", "network.ethernets.eth1.routes[0].via"},
		{"bad mtu", "network: {ethernets: {eth0: {mtu: 100}}}", "network.ethernets.eth0.mtu: 100 is outside"},
		{"bad ifname", "network: {ethernets: {this-name-is-too-long: {}}}", "network.ethernets.this-name-is-too-long"},
		{"log level", "log: {level: loud}", "log.level: \"loud\" is not one of"},
		{"unknown field", "api: {lisen: ':1'}", "field lisen not found"},
		{"wrong type", "log: {lines: many}", "cannot unmarshal"},
		{"bad duration", "testing: {faulty_services: [{name: probe, fail_after: soon}]}", "\"soon\" is not a duration"},
		{"faulty service", "testing: {faulty_services: [{name: probe, fail_after: 100ms}]}", ""},
		{"duplicate faulty", "testing: {faulty_services: [{name: p}, {name: p}]}", "testing.faulty_services[1].name: \"p\" is named twice"},
		{"storage", "storage: {tier: compact, create: never, exclude: ['wwn-0x5000*'], db_disk: [nvme-*], scrub_every: 168h, space_warn: [70]}", ""},
		{"bad tier", "storage: {tier: huge}", "storage.tier: \"huge\" is not one of small, compact"},
		{"bad create", "storage: {create: always}", "storage.create: \"always\" is not blank or never"},
		{"long array name", "storage: {name: " + strings.Repeat("x", 33) + "}", "storage.name"},
		{"root mount", "storage: {mount_point: /}", "storage.mount_point"},
		{"bad glob", "storage: {db_disk: ['[']}", "storage.db_disk[0]: \"[\" is not a glob"},
		{"scrub too often", "storage: {scrub_every: 10m}", "storage.scrub_every: 10m0s"},
		{"space warn", "storage: {space_warn: [80, 100]}", "storage.space_warn[1]: 100"},
		{"engine", "engine: {enabled: true, listen: '10.0.0.5:7443', dir: /data/engine, passphrase_file: /etc/keep/pass, server_names: [vault.example.net]}", ""},
		{"engine listen", "engine: {listen: '7443'}", "engine.listen: \"7443\" is not host:port"},
		{"engine dir", "engine: {dir: ../x}", "engine.dir"},
		{"engine passphrase", "engine: {passphrase_file: pass}", "engine.passphrase_file: \"pass\" is not an absolute path"},
		{"engine names", "engine: {server_names: ['a b']}", "engine.server_names[0]"},
		{"bmc sensors", "bmc: {sensor_every: 10s}", ""},
		{"bmc sensors too often", "bmc: {sensor_every: 100ms}", "bmc.sensor_every: 100ms is outside 1s-1h"},
		{"bmc lan static", "bmc: {lan: {source: static, address: 192.168.0.120, netmask: 255.255.255.0, gateway: 192.168.0.1}}", ""},
		{"bmc lan dhcp", "bmc: {lan: {source: dhcp}}", ""},
		{"bmc lan bad source", "bmc: {lan: {source: bootp}}", "bmc.lan.source: \"bootp\" is neither static nor dhcp"},
		{"bmc lan no gateway", "bmc: {lan: {source: static, address: 192.168.0.120, netmask: 255.255.255.0}}", "bmc.lan.gateway: \"\" is not an IPv4 address"},
		{"bmc lan v6", "bmc: {lan: {source: static, address: 'fd00::1', netmask: 255.255.255.0, gateway: 192.168.0.1}}", "bmc.lan.address"},
		{"bmc lan mask", "bmc: {lan: {source: static, address: 192.168.0.120, netmask: 255.0.255.0, gateway: 192.168.0.1}}", "bmc.lan.netmask: 255.0.255.0 is not a contiguous netmask"},
		{"bmc lan dhcp with address", "bmc: {lan: {source: dhcp, address: 192.168.0.120}}", "bmc.lan: source dhcp takes no address"},
		{"tunnel disabled by default", "tunnel: {local_ts: [], remote_ts: []}", ""},
		{"tunnel psk", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", ""},
		{"tunnel certs", "tunnel: {enabled: true, noc_address: '198.51.100.1:4500', noc_id: 198.51.100.1, local_id: box@example.net, cert_file: /c.pem, key_file: /k.pem, ca_file: /ca.pem, local_ts: ['fd00:1::/64'], remote_ts: ['fd00:2::/48'], ike_lifetime: 8h, child_lifetime: 30m, dpd_interval: 0s, ike_proposals: aes256gcm16-prfsha384-ecp384, esp_proposals: aes256gcm16-noesn}", ""},
		{"tunnel no noc", "tunnel: {enabled: true}", "tunnel.noc_address: required"},
		{"tunnel bad noc", "tunnel: {enabled: true, noc_address: noc.example.net, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.noc_address: \"noc.example.net\" is not an IP address or IP:port"},
		{"tunnel bad noc id", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: 'a b', local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.noc_id: \"a b\" is not an IKE identity"},
		{"tunnel no local id", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: '', psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.local_id"},
		{"tunnel no auth", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: '', local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.psk_file: required: psk_file, or cert_file"},
		{"tunnel both auths", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16], cert_file: /c.pem}", "tunnel.psk_file: set psk_file or cert_file/key_file/ca_file, not both"},
		{"tunnel partial certs", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: '', local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16], cert_file: /c.pem, key_file: /k.pem}", "tunnel.ca_file: required with certificate authentication"},
		{"tunnel relative psk", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.psk_file: \"psk\" is not an absolute path"},
		{"tunnel bad local address", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16], local_address: wan0}", "tunnel.local_address: \"wan0\" is not an IP address"},
		{"tunnel no local ts", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [], remote_ts: [10.200.0.0/16]}", "tunnel.local_ts: required"},
		{"tunnel no remote ts", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: []}", "tunnel.remote_ts: required"},
		{"tunnel bad ts", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16, nocnet]}", "tunnel.remote_ts[1]: \"nocnet\" is not a network prefix"},
		{"tunnel host bits", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.5/24], remote_ts: [10.200.0.0/16]}", "tunnel.local_ts[0]: \"10.10.0.5/24\" has host bits set; write 10.10.0.0/24"},
		{"tunnel default route", "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [0.0.0.0/0]}", "tunnel.remote_ts[0]: \"0.0.0.0/0\" is a default route"},
		{"tunnel noc inside remote ts", "tunnel: {enabled: true, noc_address: '10.200.0.1:500', noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", "tunnel.local_address: required: the NOC address 10.200.0.1 lies in remote_ts 10.200.0.0/16"},
		{"tunnel noc inside remote ts with local address", "tunnel: {enabled: true, noc_address: 10.200.0.1, local_address: 192.0.2.10, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.10.0.0/24], remote_ts: [10.200.0.0/16]}", ""},
		{"tunnel ike lifetime", "tunnel: {ike_lifetime: 1m}", "tunnel.ike_lifetime: 1m0s is outside 10m-168h"},
		{"tunnel child lifetime", "tunnel: {child_lifetime: 48h}", "tunnel.child_lifetime: 48h0m0s is outside 5m-24h"},
		{"tunnel dpd", "tunnel: {dpd_interval: 1s}", "tunnel.dpd_interval: 1s: use 0s (off) or 5s-1h"},
		{"tunnel retransmit", "tunnel: {retransmit_timeout: 1s, retransmit_tries: 3}", ""},
		{"tunnel retransmit timeout", "tunnel: {retransmit_timeout: 100ms}", "tunnel.retransmit_timeout: 100ms is outside 500ms-1m"},
		{"tunnel retransmit tries", "tunnel: {retransmit_tries: 0}", "tunnel.retransmit_tries: 0 is outside 1-10"},
		{"tunnel nat keepalive", "tunnel: {nat_keepalive: 5s}", ""},
		{"tunnel nat keepalive too short", "tunnel: {nat_keepalive: 1s}", "tunnel.nat_keepalive: 1s is outside 5s-5m"},
		{"tunnel proposals", "tunnel: {ike_proposals: 'aes256gcm16 prfsha384'}", "tunnel.ike_proposals: \"aes256gcm16 prfsha384\" is not strongSwan proposal syntax"},
		{"tunnel psk in config", "tunnel: {psk: secret}", "field psk not found"},
		{"api noc", "api: {noc: {listen: '10.2.0.1:8443', cert_file: /etc/keep/api-cert.pem, key_file: /etc/keep/api-key.pem, client_ca_file: /etc/keep/noc-operators.pem}}\n" + nocTunnel, ""},
		{"api noc v6 without tunnel", "api: {noc: {listen: '[fd00:2::1]:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", ""},
		{"api noc empty", "api: {noc: {}}", "api.noc.listen: required: the NOC listener needs listen, cert_file, key_file and client_ca_file"},
		{"api noc no ca", "api: {noc: {listen: '10.2.0.1:8443', cert_file: /c.pem, key_file: /k.pem}}", "api.noc.client_ca_file: required"},
		{"api noc relative key", "api: {noc: {listen: '10.2.0.1:8443', cert_file: /c.pem, key_file: k.pem, client_ca_file: /ca.pem}}", "api.noc.key_file: \"k.pem\" is not an absolute path"},
		{"api noc host name", "api: {noc: {listen: 'keep.example.net:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: \"keep.example.net:8443\" is not IP:port with an IP literal"},
		{"api noc no port", "api: {noc: {listen: '10.2.0.1', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: \"10.2.0.1\" is not IP:port"},
		{"api noc port 0", "api: {noc: {listen: '10.2.0.1:0', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: \"10.2.0.1:0\" has port 0"},
		{"api noc every address", "api: {noc: {listen: '0.0.0.0:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: 0.0.0.0 is every address"},
		{"api noc outside tunnel", "api: {noc: {listen: '10.9.9.9:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}\n" + nocTunnel,
			"api.noc.listen: 10.9.9.9 is not inside tunnel.local_ts [10.2.0.0/24]: the NOC reaches the API only through the tunnel"},
		{"api noc port of api listen", "api: {listen: ':8443', noc: {listen: '10.2.0.1:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: port 8443 is also api.listen's (:8443)"},
		{"api noc port of engine", "api: {noc: {listen: '10.2.0.1:7443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}", "api.noc.listen: port 7443 is also engine.listen's (:7443)"},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", "more than one YAML document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(Defaults(), []byte(tc.doc))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted %q; want error containing %q", tc.doc, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// nocTunnel is an enabled tunnel whose local network holds 10.2.0.1.
const nocTunnel = "tunnel: {enabled: true, noc_address: 198.51.100.1, noc_id: noc.example.net, local_id: box1.example.net, psk_file: /etc/keep/psk, local_ts: [10.2.0.0/24], remote_ts: [10.200.0.0/16]}"

// TestNOCListenerMergesAndRoundTrips: an override naming only api.noc
// keeps the base's other listeners, leaves the base alone, and the
// section survives Marshal and Parse.
func TestNOCListenerMergesAndRoundTrips(t *testing.T) {
	base := Defaults()
	cfg, err := Parse(base, []byte("api: {noc: {listen: '10.2.0.1:8443', cert_file: /c.pem, key_file: /k.pem, client_ca_file: /ca.pem}}"))
	if err != nil {
		t.Fatal(err)
	}
	want := NOCAPI{Listen: "10.2.0.1:8443", CertFile: "/c.pem", KeyFile: "/k.pem", ClientCAFile: "/ca.pem"}
	if cfg.API.NOC == nil || *cfg.API.NOC != want || cfg.API.Listen != ":8080" || cfg.API.Socket != base.API.Socket {
		t.Fatalf("api = %+v (noc %+v)", cfg.API, cfg.API.NOC)
	}
	if base.API.NOC != nil {
		t.Fatal("Parse modified its base")
	}
	again, err := Parse(cfg, []byte("api: {noc: {listen: '10.2.0.2:8443'}}"))
	if err != nil || again.API.NOC.Listen != "10.2.0.2:8443" || cfg.API.NOC.Listen != "10.2.0.1:8443" {
		t.Fatalf("second layer: %+v %v; the first layer's noc must stay %+v", again.API.NOC, err, cfg.API.NOC)
	}
	doc, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(Defaults(), doc)
	if err != nil || back.API.NOC == nil || *back.API.NOC != want {
		t.Fatalf("round trip: %+v %v\n%s", back.API.NOC, err, doc)
	}
	if d, _ := Defaults().Marshal(); strings.Contains(string(d), "noc:") {
		t.Errorf("the defaults marshal a noc section:\n%s", d)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse(Defaults(), []byte("appliance: {hostname: X}\nlog: {level: loud, lines: 1}\n"))
	for _, want := range []string{"appliance.hostname", "log.level", "log.lines"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestParseMergesOnTopOfBase(t *testing.T) {
	base := Defaults()
	cfg, err := Parse(base, []byte("network: {ethernets: {eth1: {addresses: [192.0.2.5/24]}}}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Network.Ethernets["eth0"]; !ok {
		t.Error("eth0 from the base was lost; maps must merge")
	}
	if got := cfg.Network.Ethernets["eth1"].Addresses; len(got) != 1 || got[0] != "192.0.2.5/24" {
		t.Errorf("eth1 addresses = %v", got)
	}
	if _, ok := base.Network.Ethernets["eth1"]; ok {
		t.Error("Parse modified its base")
	}
	if cfg.API != base.API {
		t.Errorf("api changed to %+v without being named", cfg.API)
	}
}

func TestLoadLayers(t *testing.T) {
	files := map[string]string{
		"/etc/keep/keep.yaml": "appliance: {hostname: image}\n",
		"/cfg/good.yaml":      "appliance: {hostname: override}\n",
		"/cfg/bad.yaml":       "appliance: {hostname: NOPE}\n",
	}
	read := func(p string) ([]byte, error) {
		s, ok := files[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(s), nil
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("appliance: {hostname: inline}"))
	b64bad := base64.StdEncoding.EncodeToString([]byte("log: {level: loud}"))
	tests := []struct {
		name, defaults, cmdline string
		wantHost                string
		wantErr                 string
		wantSources             int
	}{
		{"image defaults", "/etc/keep/keep.yaml", "console=ttyS0", "image", "", 2},
		{"file override", "/etc/keep/keep.yaml", "quiet keep.config=/cfg/good.yaml", "override", "", 3},
		{"inline override", "/etc/keep/keep.yaml", "keep.config=b64:" + b64, "inline", "", 3},
		{"bad override keeps image", "/etc/keep/keep.yaml", "keep.config=/cfg/bad.yaml", "image", "/cfg/bad.yaml: appliance.hostname: \"NOPE\"", 2},
		{"bad inline override", "/etc/keep/keep.yaml", "keep.config=b64:" + b64bad, "image", "log.level", 2},
		{"not base64", "/etc/keep/keep.yaml", "keep.config=b64:%%%", "image", "not base64", 2},
		{"missing override", "/etc/keep/keep.yaml", "keep.config=/cfg/none.yaml", "image", "/cfg/none.yaml", 2},
		{"missing image defaults", "/none.yaml", "", "keep", "read image defaults", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Load(read, tc.defaults, tc.cmdline)
			if got.Config.Appliance.Hostname != tc.wantHost {
				t.Errorf("hostname = %q, want %q", got.Config.Appliance.Hostname, tc.wantHost)
			}
			if len(got.Sources) != tc.wantSources {
				t.Errorf("sources = %v, want %d", got.Sources, tc.wantSources)
			}
			switch {
			case tc.wantErr == "" && got.Err != nil:
				t.Errorf("Err = %v", got.Err)
			case tc.wantErr != "" && (got.Err == nil || !strings.Contains(got.Err.Error(), tc.wantErr)):
				t.Errorf("Err = %v, want it to contain %q", got.Err, tc.wantErr)
			}
			if err := got.Config.Validate(); err != nil {
				t.Errorf("Load returned an invalid config: %v", err)
			}
		})
	}
}

func TestCmdlineValueLastWins(t *testing.T) {
	v, ok := CmdlineValue("a=1 keep.config=x b keep.config=y", "keep.config")
	if !ok || v != "y" {
		t.Fatalf("got %q %v", v, ok)
	}
	if _, ok := CmdlineValue("keep.configx=1", "keep.config"); ok {
		t.Fatal("matched a longer key")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("appliance: {hostname: vault}\napi: {listen: ':8080'}\n"))
	f.Add([]byte("network: {ethernets: {eth0: {addresses: [10.0.0.1/8], routes: [{to: default, via: 10.0.0.254}]}}}"))
	f.Add([]byte("testing: {faulty_services: [{name: p, fail_after: 1s}]}"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := Parse(Defaults(), doc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse returned a config that fails Validate: %v", err)
		}
	})
}

// The image's defaults file is outside bytes to this package but part of
// every boot: it must parse on top of the compiled-in defaults.
func TestImageDefaultsFileValidates(t *testing.T) {
	const path = "../../image/keep.yaml"
	got := Load(os.ReadFile, path, "")
	if got.Err != nil {
		t.Fatalf("%s: %v", path, got.Err)
	}
	if len(got.Sources) != 2 || got.Sources[1] != path {
		t.Fatalf("sources = %v", got.Sources)
	}
}
