# Keep: build, image, run and test the local vault firmware.
# `make run` and `make test` work on a fresh Debian 12 machine: both do
# their own `make deps` first.

# The pinned Debian kernel whose vmlinuz and modules the image carries.
KVER      ?= 6.1.0-56-amd64
MODULES   ?= /lib/modules/$(KVER)
VMLINUZ   ?= /boot/vmlinuz-$(KVER)

BUILD     := build
KEEP      := $(BUILD)/keep
IMAGE     := $(BUILD)/keep.img
TESTIMAGE := $(BUILD)/keep-test.img
VMLINUX   := $(BUILD)/vmlinux
GO        ?= go
# Reproducible static binaries: no cgo, no paths, no build id, no VCS stamp.
GOBUILD   := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags='-s -w -buildid='
GOTEST    := $(GO) test
QEMU_ENV  := KEEP_KERNEL=$(abspath $(VMLINUX)) KEEP_INITRD=$(abspath $(IMAGE)) KEEP_TEST_INITRD=$(abspath $(TESTIMAGE)) KEEP_CTL=$(abspath $(KEEP))
API_PORT  ?= 8080

.PHONY: all deps build image run test test-short test-unit test-qemu check-static check-repro bench bench-boot bench-engine bench-engine-quick fuzz clean

all: image

deps:
	@KVER=$(KVER) scripts/deps.sh

build:
	$(GOBUILD) -o $(KEEP) ./cmd/keep
	$(GOBUILD) -o $(BUILD)/keep-agent ./cmd/keep-agent
	$(GOBUILD) -o $(BUILD)/mkimage ./cmd/mkimage
	$(GOBUILD) -o $(BUILD)/keep-vm ./qemu/cmd/keep-vm

# The image: the keep binary as /init, the kernel module closure, the
# default config, mkfs.xfs and xfs_repair with their libraries. Also the
# uncompressed vmlinux that QEMU boots by PVH, and the test image (the same
# plus the oracle tools mdadm, smartctl and ipmitool) that scenarios use to
# check Keep's work from inside the guest.
image: build
	$(BUILD)/mkimage -keep $(KEEP) -modules $(MODULES) -config image/keep.yaml -o $(IMAGE) \
		-vmlinux-from $(VMLINUZ) -vmlinux-out $(VMLINUX)
	$(BUILD)/mkimage -keep $(KEEP) -modules $(MODULES) -config image/keep.yaml -o $(TESTIMAGE) -test

# Boot the appliance with its default virtual hardware (6 data disks, BMC,
# one NIC with the API on 127.0.0.1:$(API_PORT)). Ctrl-C presses the power button.
run: deps image
	$(BUILD)/keep-vm -kernel $(VMLINUX) -initrd $(IMAGE) -dir $(BUILD)/vm -api-port $(API_PORT)

# Everything: unit tests, the QEMU scenarios, the static and reproducible checks.
test: deps image check-static check-repro
	$(GO) vet ./...
	$(QEMU_ENV) CI=$${CI:-} $(GOTEST) -count=1 -timeout 40m ./...

# The quick loop: unit tests only (QEMU scenarios are skipped under -short).
test-short:
	$(GOTEST) -short ./...

check-static: build
	@file $(KEEP) | grep -q 'statically linked' || { file $(KEEP); echo "check-static: $(KEEP) is not statically linked" >&2; exit 1; }
	@echo "check-static: $(KEEP) is statically linked"

# Two builds from the same inputs must be byte-identical.
check-repro: build
	@rm -rf $(BUILD)/repro && mkdir -p $(BUILD)/repro
	$(GOBUILD) -a -o $(BUILD)/repro/keep ./cmd/keep
	@cmp $(KEEP) $(BUILD)/repro/keep || { echo "check-repro: keep binary differs between builds" >&2; exit 1; }
	$(BUILD)/mkimage -keep $(BUILD)/repro/keep -modules $(MODULES) -config image/keep.yaml -o $(BUILD)/repro/keep.img
	@cmp $(IMAGE) $(BUILD)/repro/keep.img || { echo "check-repro: image differs between builds" >&2; exit 1; }
	@echo "check-repro: binary and image are byte-identical across builds"

bench: image
	$(GOTEST) -run '^$$' -bench . -benchmem ./...
	$(MAKE) bench-boot

# The engine against restic and borg (kopia with KOPIA=path) on the
# deterministic corpora: backup, incremental, restore; see bench/README.md.
bench-engine:
	bench/run.sh $(BENCH_ARGS)
bench-engine-quick:
	bench/run.sh -quick $(BENCH_ARGS)

# Boot-to-ready seconds under TCG and the image size.
bench-boot: deps image
	$(QEMU_ENV) $(GOTEST) -run '^$$' -bench BenchmarkBootToReady -benchtime 3x -count 1 ./qemu/

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    $(GOTEST) -run '^$$' -fuzz "^$$f$$" -fuzztime 30s $$p || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BUILD)
