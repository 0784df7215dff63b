package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
)

// SystemPowerdown presses the ACPI power button. The guest decides what to do;
// QEMU exits when the guest powers off.
func (c *Client) SystemPowerdown(ctx context.Context) error {
	_, err := c.Execute(ctx, "system_powerdown", nil)
	return err
}

// SystemReset resets the machine as the reset button would (with -no-reboot,
// QEMU exits instead).
func (c *Client) SystemReset(ctx context.Context) error {
	_, err := c.Execute(ctx, "system_reset", nil)
	return err
}

// Quit makes QEMU exit at once, like pulling the power cord. A connection that
// closes before the reply arrives counts as success.
func (c *Client) Quit(ctx context.Context) error {
	_, err := c.Execute(ctx, "quit", nil)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// DeviceAdd hot-plugs a device: props are the -device properties without driver.
func (c *Client) DeviceAdd(ctx context.Context, driver string, props map[string]any) error {
	args := maps.Clone(props)
	if args == nil {
		args = map[string]any{}
	}
	args["driver"] = driver
	_, err := c.Execute(ctx, "device_add", args)
	return err
}

// DeviceDel asks the guest to release the device with the given id and waits
// for QEMU's DEVICE_DELETED event for it, which comes only once the guest has
// ejected it (for PCIe native hotplug ~5–10 s under TCG). ctx bounds the wait.
func (c *Client) DeviceDel(ctx context.Context, id string) error {
	after := c.mark()
	if _, err := c.Execute(ctx, "device_del", map[string]any{"id": id}); err != nil {
		return err
	}
	_, err := c.waitEvent(ctx, after, "DEVICE_DELETED", func(e Event) bool {
		var d struct {
			Device string `json:"device"`
		}
		return e.Decode(&d) == nil && d.Device == id
	})
	if err != nil {
		return fmt.Errorf("qmp device_del %s: %w", id, err)
	}
	return nil
}

// SetLink sets the link state of a NIC or netdev (by id) up or down, as a
// cable pull would.
func (c *Client) SetLink(ctx context.Context, name string, up bool) error {
	_, err := c.Execute(ctx, "set_link", map[string]any{"name": name, "up": up})
	return err
}

// HumanMonitorCommand runs an HMP command (e.g. "info pci") and returns its
// output. HMP reports most failures only in that text.
func (c *Client) HumanMonitorCommand(ctx context.Context, cmd string) (string, error) {
	ret, err := c.Execute(ctx, "human-monitor-command", map[string]any{"command-line": cmd})
	if err != nil {
		return "", err
	}
	var out string
	if err := json.Unmarshal(ret, &out); err != nil {
		return "", fmt.Errorf("qmp human-monitor-command: decode output: %w", err)
	}
	return out, nil
}

// QomSet sets a QOM property, e.g. QomSet(ctx, "/machine/peripheral/disk-n0",
// "smart_critical_warning", 2).
func (c *Client) QomSet(ctx context.Context, path, property string, value any) error {
	_, err := c.Execute(ctx, "qom-set", map[string]any{"path": path, "property": property, "value": value})
	return err
}

// QomGet reads a QOM property.
func (c *Client) QomGet(ctx context.Context, path, property string) (json.RawMessage, error) {
	return c.Execute(ctx, "qom-get", map[string]any{"path": path, "property": property})
}

// Status is the run state from query-status ("running", "paused", "shutdown", …).
func (c *Client) Status(ctx context.Context) (string, error) {
	ret, err := c.Execute(ctx, "query-status", nil)
	if err != nil {
		return "", err
	}
	var s struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(ret, &s); err != nil {
		return "", fmt.Errorf("qmp query-status: decode: %w", err)
	}
	return s.Status, nil
}
