package api

import (
	"time"

	"keep/appliance/events"
	"keep/appliance/logring"
	"keep/appliance/service"
	"keep/netcfg"
)

// Status is GET /v1/status: is the box up, and if not, why.
type Status struct {
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	// Boot identifies this boot; events carry the same id.
	Boot          string  `json:"boot"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Stage is the boot stage reached: mount, modules, config, services,
	// ready, or stopping.
	Stage string `json:"stage"`
	Ready bool   `json:"ready"`
	// NotReady says, one reason a line, why Ready is false; also set
	// when ready but degraded (a failed optional service).
	NotReady      []string                `json:"not_ready,omitempty"`
	ConfigSources []string                `json:"config_sources"`
	Services      []service.ServiceStatus `json:"services"`
	// BMC is absent outside PID 1.
	BMC *BMC `json:"bmc,omitempty"`
}

// BMC is the baseboard management controller as the supervisor sees it.
type BMC struct {
	Present             bool      `json:"present"`
	Firmware            string    `json:"firmware,omitempty"`
	IPMIVersion         string    `json:"ipmi_version,omitempty"`
	Manufacturer        uint32    `json:"manufacturer_id,omitempty"`
	Product             uint16    `json:"product_id,omitempty"`
	WatchdogArmed       bool      `json:"watchdog_armed"`
	WatchdogTimeout     string    `json:"watchdog_timeout,omitempty"`
	LastPet             time.Time `json:"last_pet,omitempty"`
	LastResetByWatchdog bool      `json:"last_reset_by_watchdog"`
	// The appliance's identity, from the baseboard FRU.
	BoardSerial   string `json:"board_serial,omitempty"`
	BoardPart     string `json:"board_part,omitempty"`
	BoardProduct  string `json:"board_product,omitempty"`
	ProductSerial string `json:"product_serial,omitempty"`
	ProductName   string `json:"product_name,omitempty"`
}

// EventsResponse is GET /v1/events.
type EventsResponse struct {
	Events []events.Event `json:"events"`
}

// LogsResponse is GET /v1/logs.
type LogsResponse struct {
	Lines []logring.Line `json:"lines"`
	// Dropped counts lines the ring has dropped since boot.
	Dropped uint64 `json:"dropped"`
}

// Accepted is the answer to requests that start something (shutdown).
type Accepted struct {
	Message string `json:"message"`
}

// Network is GET /v1/network: links, addresses, routes, leases, DNS.
type Network struct {
	netcfg.Snapshot
	Leases []Lease `json:"leases"`
	// DNS are the name servers the box resolves with.
	DNS []string `json:"dns"`
	// Config is the running network configuration (what a re-apply
	// would apply); absent outside PID 1.
	Config *netcfg.Config `json:"config,omitempty"`
	// Pending is a configuration on probation (confirm-or-rollback).
	Pending *NetworkPending `json:"pending,omitempty"`
	// Time is the NTP client's view of the clock.
	Time *TimeStatus `json:"time,omitempty"`
	// Rates are each link's latest traffic rates (sampled every
	// RateInterval; GET /v1/network/history has the history).
	Rates        []LinkRate `json:"rates,omitempty"`
	RateInterval string     `json:"rate_interval,omitempty"`
}

// Lease is a DHCP lease the box holds.
type Lease struct {
	Link     string    `json:"link"`
	Address  string    `json:"address"`
	Router   string    `json:"router,omitempty"`
	Server   string    `json:"server,omitempty"`
	Obtained time.Time `json:"obtained"`
	Expires  time.Time `json:"expires"`
	Renewals int       `json:"renewals"`
}

// ExecRequest is POST /v1/test/exec: a program to run in a test image.
type ExecRequest struct {
	// Argv is the program (an absolute path or a name on /usr/sbin,
	// /usr/bin, /sbin, /bin) and its arguments.
	Argv []string `json:"argv"`
	// TimeoutSeconds bounds the run; 0 means 60 s.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// ExecResult is what the program did.
type ExecResult struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}
