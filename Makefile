# hakeeper developer entry points. Go is expected at /usr/local/go (or on PATH).
# Every target that runs tests or the demo installs what it needs first (deps).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT     ?= $(dir $(GO))gofmt
BIN       := bin/hakeeper
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Debian packages `hakeeper demo` needs: ip (iproute2) builds the lab's
# namespaces and runs each node in one, sysctl (procps) turns IPv6 DAD off
# inside them.
DEMO_PACKAGES := iproute2 procps

# Debian packages the tests need besides the demo's: keepalived and tshark
# for interop and wire checks, qemu/busybox/cpio/kmod/xz for the IPVS VM
# tests (test/vm/setup.sh also fetches the VM's kernel), ipvsadm and
# tcpdump for kernel state and captures, git and gnupg for the GitOps
# source and its signed-commit tests, openssh for the Git-over-ssh test,
# frr for the router BGP directors peer with.
TEST_PACKAGES := $(DEMO_PACKAGES) keepalived qemu-system-x86 busybox-static cpio kmod tshark \
	ipvsadm tcpdump xz-utils git gnupg openssh-server openssh-client frr

# TEST_STAGES are what `make test` runs, each whatever became of the ones
# before, so one failure never hides another stage's result: the linters,
# the unit and namespace tests, the race detector on the packages whose
# goroutines share state, then TEST_EXTRA: by default the IPVS tests in a
# QEMU VM (this host's kernel has no IPVS). TEST_EXTRA= skips them.
TEST_EXTRA ?= test-vm
TEST_STAGES = lint test-unit test-race $(TEST_EXTRA)

# RACE_PKGS are the packages `make test-race` runs under -race: the VRRP
# engine and its kernel side, the health checker, and the controller with
# its status server and sources. The real-kernel suites of test/ and the
# VM runner are left out: the race detector multiplies their run time
# and adds nothing their packages' own tests do not cover.
RACE_PKGS ?= ./vrrpd/... ./lvs/... ./reconcile/...

# BENCH_PKGS are the packages whose benchmarks `make bench` runs.
BENCH_PKGS ?= ./...

.PHONY: all deps deps-demo build lint test test-unit test-race test-vm bench bench-go bench-vrrp bench-vm soak demo demo-bgp clean

all: build

# apt_install installs those of the packages $(1) that are missing,
# running apt-get update once and only when something is missing.
define apt_install
	@missing=""; \
	for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

# deps-demo: what `make demo` needs, and no more.
deps-demo:
	$(call apt_install,$(DEMO_PACKAGES))
	$(GO) mod download

# deps: everything the tests and benchmarks need, the VM's kernel included.
deps:
	$(call apt_install,$(TEST_PACKAGES))
	test/vm/setup.sh >/dev/null
	$(GO) mod download

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/hakeeper

# lint: gofmt must have nothing to say about any Go file (hidden
# directories such as .cache are skipped), go vet and staticcheck must
# pass. staticcheck is a tool dependency in go.mod: `go tool` builds the
# pinned version, nothing to install by hand.
lint:
	@out="$$(find . -name '.?*' -prune -o -name '*.go' -print | xargs $(GOFMT) -l)"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags vmtest ./...
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags vmtest ./...

# test runs every stage and ends with the list of those that failed; it
# exits non-zero if any did.
test: deps
	@failed=""; times=""; \
	for s in $(TEST_STAGES); do \
		echo "== make $$s"; start=$$(date +%s); \
		$(MAKE) --no-print-directory $$s || failed="$$failed $$s"; \
		times="$$times $$s=$$(( $$(date +%s) - start ))s"; \
	done; \
	echo "== make test: stage times:$$times"; \
	if [ -n "$$failed" ]; then echo "== make test: FAILED stages:$$failed (of: $(TEST_STAGES))"; exit 1; fi; \
	echo "== make test: every stage passed ($(TEST_STAGES))"

# -count=1: the real-kernel tests build and run the hakeeper binary, a
# dependency Go's test cache cannot see, so a cached pass could hide a
# broken daemon.
test-unit:
	$(GO) test -count=1 ./...

test-race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# VM_LAB_EXTRA are the host programs the LVS lab (TestLVSLab, the LVS
# demo) needs in the VM: iproute2's ip for `ip netns` (busybox's has
# none; /bin comes first on the guest's PATH, before busybox's /sbin/ip),
# git and git-upload-pack for the lab's Git repository (go-git's file://
# transport runs git-upload-pack).
VM_LAB_EXTRA ?= /bin/ip $(shell command -v git) $(dir $(shell command -v git))git-upload-pack

# test-vm boots Debian's stock kernel under QEMU (test/vm) and runs the
# vmtest-tagged tests against real IPVS; the runner's own tests first.
# TestApplyKernel, the LVS lab, the connection-sync lab and the BGP data path share one VM boot.
test-vm: deps
	$(GO) test -count=1 ./test/vm
	$(GO) test -count=1 -tags vmtest -exec "$(CURDIR)/test/vm/run" ./lvs/ipvskernel ./reconcile/controller
	HAKEEPER_VM_EXTRA="$(VM_LAB_EXTRA)" $(GO) test -count=1 -tags vmtest -exec "$(CURDIR)/test/vm/run" \
		-run '^(TestApplyKernel|TestLVSLab|TestLVSLabRollback|TestDemoLVS|TestBGPLabECMP|TestConnSyncLab)$$' ./cmd/hakeeper
	$(GO) test -count=1 -tags vmtest -exec "$(CURDIR)/test/vm/run" -run VM ./lvs/realserver

# bench prints every figure the issues ask for: Go benchmarks, the VRRP
# failover table measured side by side with keepalived (needs root), and
# the IPVS initial apply beside ipvsadm -R inside the VM.
bench: bench-go bench-vrrp bench-vm

bench-go: deps
	$(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS)

# The second line runs keepalived's checker (copied into the VM, which has
# the IPVS it needs) beside hakeeper's on the same real servers: 200, as
# many as the emulated (TCG) VM checks in a second; 1,000 saturate it.
# The third line is issue 11's LVS lab figures: the client's outage on a
# director crash beside keepalived directing the same lab, and commit →
# converged by webhook and by polling; and issue 12's share of established
# connections surviving a director crash, with and without connection sync.
bench-vm: deps
	$(GO) test -tags vmtest -exec "$(CURDIR)/test/vm/run" -run '^$$' -bench InitialApply -benchtime 1x ./lvs/ipvskernel
	HAKEEPER_VM_EXTRA="$$(command -v keepalived)" $(GO) test -tags vmtest -exec "$(CURDIR)/test/vm/run" -run '^$$' \
		-bench CheckerVsKeepalived -benchtime 1x -timeout 30m ./lvs/check -args -checkbench.servers=200 -checkbench.rounds=3
	HAKEEPER_VM_EXTRA="$(VM_LAB_EXTRA) $$(command -v keepalived)" $(GO) test -tags vmtest -exec "$(CURDIR)/test/vm/run" -run '^$$' \
		-bench 'LVSFailover|LVSConverge|ConnSync' -benchtime 1x -timeout 60m ./cmd/hakeeper

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
# Then, unless DEMO_DIR is set or DEMO_LVS=0, the LVS demo (`hakeeper demo
# --lvs`): on this kernel if it has IPVS, else (as root) inside the QEMU VM
# of test/vm, which test/vm/setup.sh prepares once; the demo says where
# it ran.
DEMO_LVS ?= 1
demo: deps-demo build
	$(BIN) demo $(if $(DEMO_DIR),--dir $(DEMO_DIR)) $(DEMO_ARGS)
ifeq ($(DEMO_LVS)$(DEMO_DIR),1)
	@if [ -e /proc/net/ip_vs ] || [ "$$(id -u)" -ne 0 ]; then \
		echo "\$$ $(BIN) demo --lvs $(DEMO_ARGS)"; \
		$(BIN) demo --lvs $(DEMO_ARGS); \
	else \
		echo "\$$ test/vm/run $(BIN) demo --lvs --pace 0 $(DEMO_ARGS)   # no IPVS in this kernel: in the QEMU VM"; \
		test/vm/setup.sh >/dev/null && HAKEEPER_VM_EXTRA=/bin/ip test/vm/run $(BIN) demo --lvs --pace 0 $(DEMO_ARGS); \
	fi
endif

# demo-bgp (root; installs only iproute2, procps and frr): three directors running
# `hakeeper run` announce a VIP over BGP to FRR in throwaway namespaces;
# it is test/bgp's TestDirectorsWithFRR, run verbosely, which prints the
# router's route after each step (ECMP, a failing check, a crash dropped
# by BFD, a graceful stop, a restart, a wrong password).
demo-bgp: deps-demo
	$(call apt_install,frr)
	$(GO) test -count=1 -v -run '^TestDirectorsWithFRR$$' ./test/bgp

clean:
	rm -rf bin
