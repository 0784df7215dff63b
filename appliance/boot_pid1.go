package appliance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"keep/appliance/config"
	"keep/appliance/events"
	"keep/appliance/kmod"
	"keep/appliance/pid1"
)

// watchSignals turns SIGTERM and SIGINT (which the kernel sends PID 1 for
// Ctrl-Alt-Del once DisableCtrlAltDel ran) into an orderly power-off, for
// as long as ctx lives: a second signal must not fall through to Go's
// default action, which exits the process (and would panic the kernel).
func (a *Appliance) watchSignals(ctx context.Context) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, unix.SIGTERM, unix.SIGINT)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-ch:
			if err := a.requestHalt(pid1.PowerOff, "signal "+s.String()); err != nil {
				a.log.Info("ignoring signal", "signal", s.String(), "reason", err)
			}
		}
	}
}

// pid1Setup does what only PID 1 does, once config is known.
func (a *Appliance) pid1Setup(ctx context.Context, cfg config.Config) {
	reaper := &pid1.Reaper{Reaped: func(pid int, ws unix.WaitStatus) {
		a.log.Named("reaper").Debug("reaped orphan", "pid", pid, "status", int(ws))
	}}
	a.reaper = reaper
	go reaper.Watch(ctx)
	if err := pid1.DisableCtrlAltDel(); err != nil {
		a.log.Warn("ctrl-alt-del will reboot without an orderly shutdown", "error", err)
	}
	if err := pid1.SetHostname(cfg.Appliance.Hostname); err != nil {
		a.fail("hostname", "hostname.failed", err)
	}
}

// watchPowerButton turns ACPI power button presses into a power-off. The
// button driver is a module, so this starts after module loading.
func (a *Appliance) watchPowerButton(ctx context.Context) {
	log := a.log.Named("power")
	devs, err := pid1.PowerButtons(a.opts.SysRoot, a.opts.DevRoot)
	if err == nil && len(devs) == 0 {
		err = errors.New("no power button input device (modules button and evdev)")
	}
	if err != nil {
		log.Warn("the power button will not shut down in order", "error", err)
		a.emit(events.Warning, "power.button_missing", err.Error(), nil)
		return
	}
	log.Info("watching the power button", "devices", strings.Join(devs, ","))
	err = pid1.WatchPowerButtons(ctx, devs, func() {
		_ = a.requestHalt(pid1.PowerOff, "power button")
	})
	if err != nil {
		log.Warn("power button", "error", err)
	}
}

// loadModules loads the image's module list and reports what happened.
func (a *Appliance) loadModules(ctx context.Context, cmdline string) {
	log := a.log.Named("modules")
	list, err := os.ReadFile(a.opts.ModuleList)
	if err != nil {
		a.fail("modules", "modules.failed", fmt.Errorf("read module list: %w", err))
		return
	}
	paths, err := kmod.DefaultPaths()
	if err == nil {
		paths.Sys = a.opts.SysRoot
		paths.Cmdline = a.opts.Cmdline
	}
	var loader *kmod.Loader
	if err == nil {
		loader, err = paths.Loader()
	}
	if err != nil {
		a.fail("modules", "modules.failed", err)
		return
	}
	start := time.Now()
	results, err := loader.Load(ctx, kmod.ParseList(list)...)
	counts := map[kmod.Status]int{}
	var slowest kmod.Result
	for _, r := range results {
		counts[r.Status]++
		if r.Duration > slowest.Duration {
			slowest = r
		}
		switch r.Status {
		case kmod.NoDevice:
			log.Info("no device for module", "module", r.Module)
		case kmod.Failed:
			log.Error("module failed", "module", r.Module, "error", r.Err)
		default:
			log.Debug("module", "module", r.Module, "status", r.Status.String(), "took", r.Duration)
		}
	}
	log.Info("modules loaded", "loaded", counts[kmod.Loaded], "already", counts[kmod.AlreadyLoaded],
		"no_device", counts[kmod.NoDevice], "failed", counts[kmod.Failed],
		"took", time.Since(start).Round(time.Millisecond), "slowest", slowest.Module, "slowest_took", slowest.Duration.Round(time.Millisecond))
	if err != nil {
		a.fail("modules", "modules.failed", err)
	}
}
