package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// BMCBackend is implemented by a backend that owns a BMC service (PID 1).
type BMCBackend interface {
	// BMCDetail reads the BMC: the watchdog and the SEL live, sensors
	// and identity as last polled. sel > 0 keeps only the newest sel
	// SEL entries; 0 keeps all. ErrNoBMCService when there is none.
	BMCDetail(ctx context.Context, sel int) (BMCDetail, error)
}

// ErrNoBMCService means the backend runs no BMC service (not PID 1).
var ErrNoBMCService = errors.New("no BMC service: not running as the appliance's init")

// BMCDetail is GET /v1/bmc.
type BMCDetail struct {
	BMC BMC `json:"bmc"`
	// LastReset says what the watchdog's expiration flags said at boot:
	// "watchdog" or "not the watchdog".
	LastReset string       `json:"last_reset,omitempty"`
	Watchdog  *BMCWatchdog `json:"watchdog,omitempty"`
	// Sensors as of SensorsRead (the last poll).
	Sensors     []BMCSensor `json:"sensors"`
	SensorsRead time.Time   `json:"sensors_read,omitempty"`
	SELInfo     *BMCSELInfo `json:"sel_info,omitempty"`
	// SEL is oldest first; SELTotal counts all entries even when SEL
	// holds only the newest few.
	SEL      []BMCSELEntry `json:"sel"`
	SELTotal int           `json:"sel_total"`
	FRU      *BMCFRU       `json:"fru,omitempty"`
	LAN      *BMCLAN       `json:"lan,omitempty"`
	// LANProblem says why LAN is absent ("no LAN channel", …).
	LANProblem string `json:"lan_problem,omitempty"`
	// Problems lists the parts that could not be read just now.
	Problems []string `json:"problems,omitempty"`
}

// BMCWatchdog is the Get Watchdog Timer answer.
type BMCWatchdog struct {
	Use              string   `json:"use"`
	Running          bool     `json:"running"`
	DontLog          bool     `json:"dont_log"`
	Action           string   `json:"action"`
	PreTimeout       string   `json:"pre_timeout"`
	PreTimeoutSecs   int      `json:"pre_timeout_seconds"`
	TimeoutSeconds   float64  `json:"timeout_seconds"`
	RemainingSeconds float64  `json:"remaining_seconds"`
	Expired          []string `json:"expired,omitempty"`
}

// BMCSensor is one sensor's latest reading.
type BMCSensor struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	// Threshold is true for threshold (analog) sensors, false for
	// discrete ones.
	Threshold bool     `json:"threshold"`
	Raw       int      `json:"raw"`
	Value     *float64 `json:"value,omitempty"`
	Unit      string   `json:"unit,omitempty"`
	// Status is ok, the worst threshold crossed (lnc, ucr, …), na
	// (unavailable) or discrete.
	Status string `json:"status"`
	// Level is ok, warning (non-critical), critical (critical or
	// non-recoverable) or na.
	Level  string `json:"level"`
	States uint16 `json:"states"`
	Error  string `json:"error,omitempty"`
}

// BMCSELInfo is the Get SEL Info answer.
type BMCSELInfo struct {
	Version    string `json:"version"`
	Entries    int    `json:"entries"`
	FreeBytes  int    `json:"free_bytes"`
	Capacity   int    `json:"capacity"`
	Overflow   bool   `json:"overflow"`
	AlmostFull bool   `json:"almost_full"`
}

// BMCSELEntry is one decoded SEL record.
type BMCSELEntry struct {
	ID int `json:"id"`
	// Time is zero for pre-init (relative) and unspecified timestamps.
	Time       time.Time `json:"time,omitempty"`
	Timestamp  string    `json:"timestamp"`
	Type       string    `json:"type"`
	SensorType string    `json:"sensor_type,omitempty"`
	Sensor     int       `json:"sensor"`
	Event      string    `json:"event,omitempty"`
	Asserted   bool      `json:"asserted"`
	Generator  string    `json:"generator,omitempty"`
	// Text is the whole record in words, as archived to the journal.
	Text string `json:"text"`
	Raw  string `json:"raw"`
}

// BMCFRU is the baseboard FRU's identity fields.
type BMCFRU struct {
	BoardManufacturer   string `json:"board_manufacturer,omitempty"`
	BoardProduct        string `json:"board_product,omitempty"`
	BoardSerial         string `json:"board_serial,omitempty"`
	BoardPart           string `json:"board_part,omitempty"`
	BoardMfgDate        string `json:"board_mfg_date,omitempty"`
	ProductManufacturer string `json:"product_manufacturer,omitempty"`
	ProductName         string `json:"product_name,omitempty"`
	ProductPart         string `json:"product_part,omitempty"`
	ProductVersion      string `json:"product_version,omitempty"`
	ProductSerial       string `json:"product_serial,omitempty"`
	ProductAssetTag     string `json:"product_asset_tag,omitempty"`
	ChassisPart         string `json:"chassis_part,omitempty"`
	ChassisSerial       string `json:"chassis_serial,omitempty"`
}

// BMCLAN is the BMC's management port addressing.
type BMCLAN struct {
	Channel int    `json:"channel"`
	Source  string `json:"source"`
	Address string `json:"address"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
	MAC     string `json:"mac"`
}

// bmcHandlers registers GET /v1/bmc?sel=N when b is a BMCBackend.
func bmcHandlers(mux *http.ServeMux, b Backend) {
	bb, ok := b.(BMCBackend)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/bmc", func(w http.ResponseWriter, r *http.Request) {
		n, err := intParam(r, "sel", 0)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "%v", err)
			return
		}
		d, err := bb.BMCDetail(r.Context(), n)
		switch {
		case errors.Is(err, ErrNoBMCService):
			writeError(w, http.StatusNotFound, CodeNotFound, "%v", err)
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "read BMC: %v", err)
		default:
			if d.Sensors == nil {
				d.Sensors = []BMCSensor{}
			}
			if d.SEL == nil {
				d.SEL = []BMCSELEntry{}
			}
			writeJSON(w, http.StatusOK, d)
		}
	})
}

// BMC reads GET /v1/bmc: sel > 0 asks for the newest sel SEL entries
// only, 0 for all.
func (c *Client) BMC(ctx context.Context, sel int) (BMCDetail, error) {
	var q url.Values
	if sel > 0 {
		q = url.Values{"sel": {strconv.Itoa(sel)}}
	}
	var d BMCDetail
	err := c.do(ctx, http.MethodGet, "/v1/bmc", q, &d)
	return d, err
}
