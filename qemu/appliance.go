package qemu

import "fmt"

// APIGuestPort is the port the appliance's management API listens on in
// the guest (image/keep.yaml: api.listen).
const APIGuestPort = 8080

// AgentGuestPort is the port the engine listens on for agents (the
// image's engine.listen).
const AgentGuestPort = 7443

// APINIC is the ID of the default appliance's LAN NIC, whose forward
// reaches the API.
const APINIC = "lan"

// ApplianceSpec sizes the default appliance.
type ApplianceSpec struct {
	Kernel, Initrd, Dir string
	// Disks is the number of data disks (virtio, hot-pluggable) and
	// DiskBytes the size of each.
	Disks     int
	DiskBytes int64
	// FaultInjection arms every data disk for VM.InjectDiskFault.
	FaultInjection bool
	// EmptySlots are empty hot-plug bays for VM.PlugDisk.
	EmptySlots int

	// APIHostPort is the host port forwarded to the API, AgentHostPort
	// the one forwarded to the engine's agent listener; 0 picks one.
	APIHostPort   int
	AgentHostPort int
	// Append is added to the kernel command line.
	Append []string
	BMC    bool
}

// Appliance describes the default appliance machine of DESIGN §3: data
// disks, a BMC, one LAN NIC with the management API forwarded to the
// host. The kernel is told to be quiet: every console line costs boot
// time under TCG.
func Appliance(s ApplianceSpec) Machine {
	m := Machine{
		Kernel:     s.Kernel,
		Initrd:     s.Initrd,
		Dir:        s.Dir,
		Append:     append([]string{"quiet"}, s.Append...),
		BMC:        BMC{Enabled: s.BMC},
		EmptySlots: s.EmptySlots,
		NICs: []NIC{{
			ID:       APINIC,
			Forwards: []Forward{{HostPort: s.APIHostPort, GuestPort: APIGuestPort}, {HostPort: s.AgentHostPort, GuestPort: AgentGuestPort}},
		}},
	}
	for i := 0; i < s.Disks; i++ {
		m.Disks = append(m.Disks, Disk{
			ID:             fmt.Sprintf("data%d", i),
			SizeBytes:      s.DiskBytes,
			Serial:         fmt.Sprintf("KEEP-DATA-%d", i),
			Hotpluggable:   true,
			FaultInjection: s.FaultInjection,
		})
	}
	return m
}
