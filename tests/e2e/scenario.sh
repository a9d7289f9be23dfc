#!/bin/bash
# scenario.sh: what the truth test boots for each scenario -- the kernel
# command line the guest's /init reads and the BPF objects the initramfs holds.
#
# Sourced:   . tests/e2e/scenario.sh
#            ktbpf_scenario WORKLOAD SCENARIO BPF_DIR || exit
#            build-initramfs.sh OUT ${scenario_objs[@]+"${scenario_objs[@]}"}
#            boot-guest.sh ... ${scenario_append:+--append "$scenario_append"}
# Executed:  tests/e2e/scenario.sh WORKLOAD SCENARIO BPF_DIR
#            prints the boot-guest.sh args (line 1, may be empty) and the
#            build-initramfs.sh args (line 2), shell-quoted.
#
# WORKLOAD  cc   a TCP congestion control (ktbpf_cc.bpf.o, in every initramfs)
#           scx  the sched_ext test scheduler (tests/guest/scx; the kernel needs sched_ext)
# SCENARIO  default       the workload's object loaded, attached, run, stats on
#           nostats       the same with runtime stats off (kernel.bpf_stats_enabled=0,
#                         no BPF_ENABLE_STATS fd): counters 0, stats disabled
#           two-scx       (scx) two schedulers loaded: kscx_alt first (lower prog and map
#                         ids), never attached; then ktbpf_scx, attached and run
#           scx-detached  (scx) ktbpf_scx attached, run, then detached (its struct_ops
#                         map element deleted) before the guest reports; still loaded
#           scx-error     (scx) kscx_err attached and run: it calls
#                         scx_bpf_error("ktbpf test error 7") at its 7th enqueue and
#                         the kernel ejects it (exit kind error, its uei says why)
#           scx-stall     (scx) kscx_stall attached and run: it never dispatches, so
#                         the watchdog ejects it after its 1 s timeout (kind stall)
# BPF_DIR   where scheduler objects are built (tests/guest/scx/build-bpf.sh)
#
# Sets scenario_append (a string, may be empty) and scenario_objs (an array of
# "--obj FILE" arguments). Returns 2 for an unknown scenario or one that does
# not apply to the workload, 1 when a scheduler object cannot be built; says
# why on stderr. What the guest then has loaded and attached is in its
# KTBPF-TRUTH line, never in this file.

ktbpf_scenario() {
	local workload=${1:-} scenario=${2:-} bpf_dir=${3:-}
	local guest obj alt
	guest=$(cd "$(dirname "${BASH_SOURCE[0]}")/../guest" && pwd)
	scenario_append=''
	scenario_objs=()
	if [ -z "$bpf_dir" ]; then
		echo "ktbpf_scenario: usage: ktbpf_scenario cc|scx SCENARIO BPF_DIR" >&2
		return 2
	fi
	case "$workload" in
	cc) ;;
	scx)
		obj=$("$guest/scx/build-bpf.sh" "$bpf_dir") || return 1
		scenario_objs=(--obj "$obj")
		;;
	*)
		echo "ktbpf_scenario: unknown workload '$workload' (cc, scx)" >&2
		return 2
		;;
	esac
	case "$scenario:$workload" in
	default:cc) ;;
	default:scx) scenario_append='ktbpf.workload=sched ktbpf.obj=/ktbpf_scx.bpf.o' ;;
	nostats:cc) scenario_append='ktbpf.stats=0' ;;
	nostats:scx) scenario_append='ktbpf.workload=sched ktbpf.obj=/ktbpf_scx.bpf.o ktbpf.stats=0' ;;
	two-scx:scx)
		# The same scheduler source as another object: ops name kscx_alt, maps
		# kscx_alt.bss/.data/.rodata and kscx_alt_ops. Loaded first, so its ids
		# are lower than the attached scheduler's.
		alt=$("$guest/scx/build-bpf.sh" "$bpf_dir" kscx_alt) || return 1
		scenario_objs=(--obj "$alt" "${scenario_objs[@]}")
		scenario_append='ktbpf.workload=sched ktbpf.obj=/kscx_alt.bpf.o:noattach,/ktbpf_scx.bpf.o'
		;;
	scx-detached:scx)
		scenario_append='ktbpf.workload=sched ktbpf.obj=/ktbpf_scx.bpf.o ktbpf.detach=1'
		;;
	scx-error:scx)
		obj=$("$guest/scx/build-bpf.sh" "$bpf_dir" kscx_err error) || return 1
		scenario_objs=(--obj "$obj")
		scenario_append='ktbpf.workload=sched ktbpf.obj=/kscx_err.bpf.o'
		;;
	scx-stall:scx)
		obj=$("$guest/scx/build-bpf.sh" "$bpf_dir" kscx_stall stall) || return 1
		scenario_objs=(--obj "$obj")
		scenario_append='ktbpf.workload=sched ktbpf.obj=/kscx_stall.bpf.o'
		;;
	default:* | nostats:* | two-scx:* | scx-detached:* | scx-error:* | scx-stall:*)
		echo "ktbpf_scenario: scenario '$scenario' needs a sched_ext kernel (workload scx)" >&2
		return 2
		;;
	*)
		echo "ktbpf_scenario: unknown scenario '$scenario' (default, nostats, two-scx, scx-detached, scx-error, scx-stall)" >&2
		return 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	ktbpf_scenario "$@"
	if [ -n "$scenario_append" ]; then printf '%q %q\n' --append "$scenario_append"; else echo; fi
	if [ ${#scenario_objs[@]} -gt 0 ]; then printf '%q ' "${scenario_objs[@]}" | sed 's/ $//'; fi
	echo
fi
