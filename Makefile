# hakeeper developer entry points. Go is expected at /usr/local/go (or on PATH).
# Every target that runs tests or the demo installs what it needs first (deps).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT     ?= $(dir $(GO))gofmt
BIN       := bin/hakeeper
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Debian packages the tests need (keepalived and tshark for interop and wire
# checks, qemu/busybox/cpio/kmod/xz for the IPVS VM tests, ipvsadm and
# iproute2 for kernel state, git and gnupg for the GitOps source and its
# signed-commit tests, openssh for the Git-over-ssh test, procps for
# process checks in the namespace tests).
APT_PACKAGES := keepalived qemu-system-x86 busybox-static cpio kmod tshark \
	ipvsadm iproute2 tcpdump xz-utils git gnupg procps openssh-server openssh-client

# TEST_EXTRA names further targets `make test` runs after the unit and
# namespace tests: by default the IPVS tests in a QEMU VM (this host's
# kernel has no IPVS). TEST_EXTRA= skips them.
TEST_EXTRA ?= test-vm

# BENCH_PKGS are the packages whose benchmarks `make bench` runs.
BENCH_PKGS ?= ./...

.PHONY: all deps build lint test test-vm bench bench-go bench-vrrp bench-vm soak demo clean

all: build

# deps installs only the missing packages, running apt-get update once and
# only when something is missing, then fetches the Go modules.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	test/vm/setup.sh >/dev/null
	$(GO) mod download

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/hakeeper

# lint: gofmt must have nothing to say about any Go file (hidden
# directories such as .cache are skipped), and go vet must pass.
lint:
	@out="$$(find . -name '.?*' -prune -o -name '*.go' -print | xargs $(GOFMT) -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# -count=1: the real-kernel tests build and run the hakeeper binary, a
# dependency Go's test cache cannot see, so a cached pass could hide a
# broken daemon.
test: deps lint
	$(GO) test -count=1 ./...
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

# test-vm boots Debian's stock kernel under QEMU (test/vm) and runs the
# vmtest-tagged tests against real IPVS; the runner's own tests first.
test-vm: deps
	$(GO) test -count=1 ./test/vm
	$(GO) test -count=1 -tags vmtest -exec "$(CURDIR)/test/vm/run" ./lvs/ipvskernel ./reconcile/controller

# bench prints every figure the issues ask for: Go benchmarks, the VRRP
# failover table measured side by side with keepalived (needs root), and
# the IPVS initial apply beside ipvsadm -R inside the VM.
bench: bench-go bench-vrrp bench-vm

bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS)

# The second line runs keepalived's checker (copied into the VM, which has
# the IPVS it needs) beside hakeeper's on the same real servers: 200, as
# many as the emulated (TCG) VM checks in a second; 1,000 saturate it.
bench-vm: deps
	$(GO) test -tags vmtest -exec "$(CURDIR)/test/vm/run" -run '^$$' -bench InitialApply -benchtime 1x ./lvs/ipvskernel
	HAKEEPER_VM_EXTRA="$$(command -v keepalived)" $(GO) test -tags vmtest -exec "$(CURDIR)/test/vm/run" -run '^$$' \
		-bench CheckerVsKeepalived -benchtime 1x -timeout 30m ./lvs/check -args -checkbench.servers=200 -checkbench.rounds=3

# HKV_BENCH_RUNS sets the runs per cell (default 5).
bench-vrrp: deps
	HKV_BENCH=1 $(GO) test ./test/vrrp -run 'TestFailoverTable|TestIdleCost' -v -count=1 -timeout 30m

# soak: VRRPv3 at 20 ms adverts for HKV_SOAK (default 10m) beside
# HKV_SOAK_HOGS CPU hogs; fails on any spurious transition. Not part of test.
HKV_SOAK ?= 10m
soak: deps
	HKV_SOAK=$(HKV_SOAK) $(GO) test ./test/vrrp -run TestSoak -v -count=1 -timeout 30m

# demo builds the CLI and runs `hakeeper demo`: as root, a live failover
# and reconfiguration of the built-in cluster in throwaway network
# namespaces (removed afterwards, also on Ctrl-C); otherwise the offline
# part (validate, show, plan --offline). DEMO_DIR=examples/dual-master
# demonstrates another cluster; DEMO_ARGS passes more flags (--pace 0).
demo: deps build
	$(BIN) demo $(if $(DEMO_DIR),--dir $(DEMO_DIR)) $(DEMO_ARGS)

clean:
	rm -rf bin
