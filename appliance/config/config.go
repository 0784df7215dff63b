package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"keep/netcfg"
)

// Config is the whole appliance configuration.
type Config struct {
	Appliance Appliance     `yaml:"appliance" json:"appliance"`
	API       API           `yaml:"api" json:"api"`
	Network   netcfg.Config `yaml:"network" json:"network"`
	Log       Log           `yaml:"log" json:"log"`
	BMC       BMC           `yaml:"bmc" json:"bmc"`
	Storage   Storage       `yaml:"storage" json:"storage"`
	Engine    Engine        `yaml:"engine" json:"engine"`
	Tunnel    Tunnel        `yaml:"tunnel" json:"tunnel"`
	// Testing holds fault injection for the QEMU scenarios. It is never
	// set in a production configuration; Validate accepts it anywhere so
	// a test can inject faults through the kernel command line.
	Testing Testing `yaml:"testing,omitempty" json:"testing,omitempty"`
}

// Appliance is the box's identity.
type Appliance struct {
	// Hostname is an RFC 1123 host name label.
	Hostname string `yaml:"hostname" json:"hostname"`
}

// API configures the management API listeners.
type API struct {
	// Listen is the TCP address (host:port) of the plain-HTTP listener
	// without authentication: the service LAN's and the QEMU tests' (the
	// default :8080, reached through a host port forward). A production
	// box sets it to "" (off) or to an address on a closed management
	// network; the NOC uses NOC instead.
	Listen string `yaml:"listen" json:"listen"`
	// Socket is the path of the Unix socket listener (always on).
	Socket string `yaml:"socket" json:"socket"`
	// NOC, when set, is the NOC's listener: mutual TLS 1.3 on the
	// appliance's address inside the tunnel (DESIGN §3 step 6).
	NOC *NOCAPI `yaml:"noc,omitempty" json:"noc,omitempty"`
}

// NOCAPI is the management API's listener for the NOC: every client must
// present a NOC operator certificate, and each request is attributed to
// its subject. All four fields are required. A bad file does not stop
// the boot: the listener stays closed and an api.noc_failed event says
// why.
type NOCAPI struct {
	// Listen is IP:port, the IP a literal: the appliance's address inside
	// tunnel.local_ts (it binds before the address is configured).
	Listen string `yaml:"listen" json:"listen"`
	// CertFile is the API's server certificate chain (PEM, leaf first),
	// KeyFile its private key (PEM).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ClientCAFile holds the CAs (PEM) that NOC operator client
	// certificates must chain to.
	ClientCAFile string `yaml:"client_ca_file" json:"client_ca_file"`
}

// BMC configures the baseboard management controller.
type BMC struct {
	// WatchdogTimeout is how long the box may go without a healthy
	// keepalive before the BMC resets it.
	WatchdogTimeout Duration `yaml:"watchdog_timeout" json:"watchdog_timeout"`
	// BootTimeout is the watchdog's timeout while the box boots (until
	// the ready or not-ready line): assembling, checking and mounting a
	// big array takes a while, and a reset would not speed it up.
	BootTimeout Duration `yaml:"boot_timeout" json:"boot_timeout"`
	// SensorEvery is how often the sensors and the SEL are polled
	// (1s-1h); threshold crossings and new SEL entries become events.
	SensorEvery Duration `yaml:"sensor_every" json:"sensor_every"`
	// LAN, when set, is written to the BMC's management LAN channel at
	// boot; unset leaves the BMC's own configuration alone.
	LAN *BMCLAN `yaml:"lan,omitempty" json:"lan,omitempty"`
}

// BMCLAN is the addressing of the BMC's management port.
type BMCLAN struct {
	// Source is static or dhcp.
	Source string `yaml:"source" json:"source"`
	// Address, Netmask and Gateway are IPv4 (static only).
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	Netmask string `yaml:"netmask,omitempty" json:"netmask,omitempty"`
	Gateway string `yaml:"gateway,omitempty" json:"gateway,omitempty"`
}

// Storage configures the data vault's array and filesystem.
type Storage struct {
	// Tier is the array shape: small (RAID5 4+1), compact (RAID6 5+1),
	// standard (RAID6 6+1) or performance (RAID10 8).
	Tier string `yaml:"tier" json:"tier"`
	// Name is the array's name in its superblocks.
	Name string `yaml:"name" json:"name"`
	// Create is "blank" (a first boot builds the array on blank data
	// disks) or "never" (an operator brings the disks).
	Create string `yaml:"create" json:"create"`
	// MountPoint and MountOptions of the XFS data filesystem.
	MountPoint   string `yaml:"mount_point" json:"mount_point"`
	MountOptions string `yaml:"mount_options" json:"mount_options"`
	// Exclude lists disks (ID, serial or kernel name globs) never touched.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// DBDisk picks the dedup database SSD the same way.
	DBDisk []string `yaml:"db_disk,omitempty" json:"db_disk,omitempty"`
	// AutoSpare makes a blank data disk a hot spare when it appears.
	AutoSpare bool `yaml:"auto_spare" json:"auto_spare"`
	// ScrubEvery is the interval between scrubs (md check); 0s: never.
	ScrubEvery Duration `yaml:"scrub_every" json:"scrub_every"`
	// SpaceWarn are the used-space percentages that raise events.
	SpaceWarn []int `yaml:"space_warn" json:"space_warn"`
	// SMARTEvery is how often disk health is read (at least 10s).
	SMARTEvery Duration `yaml:"smart_every" json:"smart_every"`
}

// Engine configures the media-agent engine: the chunk store on the data
// filesystem and the listener agents back up to.
type Engine struct {
	// Enabled runs the engine service (it needs the data vault).
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Listen is the TCP address agents connect to (mutual TLS 1.3).
	Listen string `yaml:"listen" json:"listen"`
	// Dir is the engine's directory, relative to the data filesystem's
	// mount point (or absolute).
	Dir string `yaml:"dir" json:"dir"`
	// PassphraseFile holds the passphrase that unlocks the store's
	// master key. Empty: a random passphrase is made at the first start
	// and kept in the engine directory (readable by root only), so the box
	// starts unattended; set a file on other media to keep the key off the
	// data disks.
	PassphraseFile string `yaml:"passphrase_file,omitempty" json:"passphrase_file,omitempty"`
	// ServerNames are extra DNS names or IP addresses in the vault's TLS
	// certificate, besides the host name (what agents dial).
	ServerNames []string `yaml:"server_names,omitempty" json:"server_names,omitempty"`
}

// Tunnel configures the IKEv2/IPsec tunnel to the provider's NOC (DESIGN
// §3 step 6). Secrets are never in the configuration: the PSK and the
// private key are read from files when the tunnel service starts.
type Tunnel struct {
	// Enabled runs the tunnel service (on the appliance only).
	Enabled bool `yaml:"enabled" json:"enabled"`
	// NOCAddress is the NOC gateway's outer address: an IP, or IP:port
	// when IKE does not listen on 500.
	NOCAddress string `yaml:"noc_address" json:"noc_address"`
	// LocalAddress is our outer (WAN) address the IKE sockets bind to;
	// empty: the source address the kernel picks for NOCAddress at the
	// service's start.
	LocalAddress string `yaml:"local_address,omitempty" json:"local_address,omitempty"`
	// NOCID and LocalID are the IKE identities: an IP address, an e-mail
	// address or an FQDN.
	NOCID   string `yaml:"noc_id" json:"noc_id"`
	LocalID string `yaml:"local_id" json:"local_id"`
	// PSKFile holds the pre-shared key (trailing newline ignored). Set
	// it, or CertFile, KeyFile and CAFile (PEM: our certificate chain,
	// leaf first; its private key; the CAs the NOC's chain must verify
	// to).
	PSKFile  string `yaml:"psk_file,omitempty" json:"psk_file,omitempty"`
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	CAFile   string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// LocalTS are the appliance's management networks, RemoteTS the
	// NOC's. Traffic to RemoteTS is blocked whenever the tunnel is down
	// (fail closed), so neither may be a default route (/0).
	LocalTS  []string `yaml:"local_ts" json:"local_ts"`
	RemoteTS []string `yaml:"remote_ts" json:"remote_ts"`
	// IKELifetime and ChildLifetime are the SAs' hard lifetimes; they
	// are rekeyed 10-15% before.
	IKELifetime   Duration `yaml:"ike_lifetime" json:"ike_lifetime"`
	ChildLifetime Duration `yaml:"child_lifetime" json:"child_lifetime"`
	// DPDInterval: a liveness check goes out when nothing came from the
	// NOC for this long; 0s disables it.
	DPDInterval Duration `yaml:"dpd_interval" json:"dpd_interval"`
	// RetransmitTimeout and RetransmitTries are the IKE retransmission
	// schedule (timeout·1.8ⁿ between tries); with DPDInterval they decide
	// how soon a dead NOC is noticed: the defaults (4s, 5 tries, as
	// strongSwan's) take about 165 s, 1s and 3 tries about 12 s.
	RetransmitTimeout Duration `yaml:"retransmit_timeout" json:"retransmit_timeout"`
	RetransmitTries   int      `yaml:"retransmit_tries" json:"retransmit_tries"`
	// NATKeepalive is how often the appliance, when IKE found it behind
	// a NAT, sends a NAT-T keepalive to hold the NAT's mapping open
	// (5s-5m; RFC 3948 suggests 20 s, strongSwan's default).
	NATKeepalive Duration `yaml:"nat_keepalive" json:"nat_keepalive"`
	// IKEProposals and ESPProposals in strongSwan syntax; empty: the ike
	// package's NOC profile (AES-256-GCM-16, curve25519/ECP/MODP 2048).
	IKEProposals string `yaml:"ike_proposals,omitempty" json:"ike_proposals,omitempty"`
	ESPProposals string `yaml:"esp_proposals,omitempty" json:"esp_proposals,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level is trace, debug, info, warn or error.
	Level string `yaml:"level" json:"level"`
	// Lines is how many log lines the in-memory ring keeps for the API.
	Lines int `yaml:"lines" json:"lines"`
}

// Testing is test-only fault injection.
type Testing struct {
	// FaultyServices adds synthetic services that fail on purpose, to
	// prove the supervisor's restart, backoff and containment.
	FaultyServices []FaultyService `yaml:"faulty_services,omitempty" json:"faulty_services,omitempty"`
	// DHCPRenewEvery renews DHCP leases this often instead of at T1, so a
	// scenario sees a renewal without waiting hours.
	DHCPRenewEvery Duration `yaml:"dhcp_renew_every,omitempty" json:"dhcp_renew_every,omitempty"`
	// WithholdKeepalive makes the supervisor stop petting the BMC
	// watchdog, as a hang would, so a scenario sees the BMC reset the box.
	WithholdKeepalive bool `yaml:"withhold_keepalive,omitempty" json:"withhold_keepalive,omitempty"`
}

// FaultyService is a synthetic service that fails FailAfter after each
// start.
type FaultyService struct {
	Name      string   `yaml:"name" json:"name"`
	FailAfter Duration `yaml:"fail_after" json:"fail_after"`
}

// Duration is a time.Duration written as "1m30s" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 1m30s", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Defaults is the compiled-in configuration. It validates, and it is the
// base every document is parsed on top of.
func Defaults() Config {
	return Config{
		Appliance: Appliance{Hostname: "keep"},
		API:       API{Listen: ":8080", Socket: "/run/keep/api.sock"},
		Network: netcfg.Config{Ethernets: map[string]netcfg.EthernetConfig{
			// QEMU's user-mode network; a racked box gets its own
			// section from the provider.
			"eth0": {Interface: netcfg.Interface{
				Addresses: []string{"10.0.2.15/24"},
				Routes:    []netcfg.RouteConfig{{To: "default", Via: "10.0.2.2"}},
			}},
		}},
		Log: Log{Level: "info", Lines: 4096},
		BMC: BMC{WatchdogTimeout: Duration(time.Minute), BootTimeout: Duration(10 * time.Minute), SensorEvery: Duration(30 * time.Second)},
		Storage: Storage{
			Tier: "standard", Name: "keep:data", Create: "blank",
			MountPoint: "/vault", MountOptions: "inode64,logbsize=256k,noatime",
			AutoSpare: true, ScrubEvery: Duration(30 * 24 * time.Hour), SpaceWarn: []int{80, 90},
			SMARTEvery: Duration(time.Hour),
		},
		Engine: Engine{Enabled: true, Listen: ":7443", Dir: "engine"},
		Tunnel: Tunnel{IKELifetime: Duration(4 * time.Hour), ChildLifetime: Duration(time.Hour), DPDInterval: Duration(30 * time.Second),
			RetransmitTimeout: Duration(4 * time.Second), RetransmitTries: 5, NATKeepalive: Duration(20 * time.Second)},
	}
}

// ErrInvalid is wrapped by every parse and validation error.
var ErrInvalid = errors.New("invalid configuration")

// maxDocument bounds what Parse reads: a configuration is small.
const maxDocument = 1 << 20

// Parse decodes a YAML document on top of base and validates the result.
// Fields the document does not name keep base's values; maps are merged
// key by key; lists are replaced.
func Parse(base Config, doc []byte) (Config, error) {
	if len(doc) > maxDocument {
		return Config{}, fmt.Errorf("%w: document is %d bytes, more than the %d allowed", ErrInvalid, len(doc), maxDocument)
	}
	cfg := base.clone()
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: more than one YAML document; write one", ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// clone deep-copies the parts of c that decoding would otherwise alias.
func (c Config) clone() Config {
	out := c
	// Decoding replaces a map's values whole, so copying the maps keeps
	// the base untouched.
	out.Network.Ethernets = maps.Clone(c.Network.Ethernets)
	out.Network.Bonds = maps.Clone(c.Network.Bonds)
	out.Network.VLANs = maps.Clone(c.Network.VLANs)
	out.Testing.FaultyServices = append([]FaultyService(nil), c.Testing.FaultyServices...)
	out.Storage.Exclude = slices.Clone(c.Storage.Exclude)
	out.Storage.DBDisk = slices.Clone(c.Storage.DBDisk)
	out.Storage.SpaceWarn = slices.Clone(c.Storage.SpaceWarn)
	out.Tunnel.LocalTS = slices.Clone(c.Tunnel.LocalTS)
	out.Tunnel.RemoteTS = slices.Clone(c.Tunnel.RemoteTS)
	if c.BMC.LAN != nil {
		lan := *c.BMC.LAN
		out.BMC.LAN = &lan
	}
	if c.API.NOC != nil {
		noc := *c.API.NOC
		out.API.NOC = &noc
	}
	return out
}

// Marshal renders c as YAML.
func (c Config) Marshal() ([]byte, error) { return yaml.Marshal(c) }
