/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_QEMU_LAYOUT_H
#define KTBPF_QEMU_LAYOUT_H

/*
 * Where QEMU puts a PC guest's RAM in guest physical memory, and what QEMU
 * says it did. Pure functions: no I/O, so tests feed them any size, machine
 * and `info mtree` text.
 */
#include <stdint.h>

#include "ktbpf/err.h"

#define LAYOUT_MAX_REGIONS 2

/* Guest physical [gpa, gpa + size) is bytes [offset, offset + size) of the RAM file. */
struct layout_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset;
};

struct layout {
	struct layout_region r[LAYOUT_MAX_REGIONS];
	unsigned int n;
};

enum layout_machine { LAYOUT_PC, LAYOUT_Q35 };

/*
 * A QEMU size ("512", "512M", "3.5G", "1T", "4096k"; a plain number is MiB,
 * as for -m) in bytes. Errors: -EINVAL (not a size, or zero), -ERANGE.
 */
int layout_parse_size(const char *s, uint64_t *ret);

/*
 * The machine a -machine/-M value names: "pc", "pc-i440fx-*" -> LAYOUT_PC;
 * "q35", "pc-q35-*" -> LAYOUT_Q35 (the type is the first element, or type=).
 * -EOPNOTSUPP for any other machine (microvm, isapc, ...), with err saying so.
 */
int layout_parse_machine(const char *type, enum layout_machine *ret, struct ktbpf_err *err);

/*
 * The guest's CPU count from its -smp option strings (all of them, in order:
 * QEMU merges repeated -smp, a later key winning), the way QEMU computes it
 * (hw/core/machine-smp.c: machine_parse_smp_config()): cpus= (or the leading
 * number), else maxcpus=, else the product of the topology (drawers, books,
 * sockets, dies, clusters, modules, cores, threads; each 1 when not given).
 * 0 when unknown: no -smp (QEMU's default is 1 but a machine may differ), an
 * unknown key, a value that is not a number, or a count above 1 << 20.
 */
uint32_t layout_smp_cpus(const char *const *smp, unsigned int n);

/*
 * The regions QEMU 7.2 makes of ram_size bytes (hw/i386/pc_piix.c
 * pc_init1(), hw/i386/pc_q35.c pc_q35_init(), default max-ram-below-4g):
 * pc keeps everything below 4 GiB up to 3.5 GiB, else the first 3 GiB; q35
 * up to 2.75 GiB, else the first 2 GiB; the rest starts at 4 GiB.
 */
void layout_compute(enum layout_machine m, uint64_t ram_size, struct layout *ret);

/*
 * What QEMU reports: the "ram-below-4g" and "ram-above-4g" aliases of the
 * RAM backend called backend in the output of the HMP command `info mtree`
 * (the first, "address-space: memory", view), e.g.
 *   0000000100000000-000000015fffffff (prio 0, ram): alias ram-above-4g @m
 * 0000000080000000-00000000dfffffff Errors: -ENOENT (no ram-below-4g alias of backend), -EINVAL (a
 * line that does not parse).
 */
int layout_from_mtree(const char *mtree, const char *backend, struct layout *ret,
		      struct ktbpf_err *err);

/*
 * 0 when QEMU's table l can be registered as it is: its regions cover the
 * RAM file [0, ram_size) in order, without gaps or overlaps, and their guest
 * ranges neither wrap nor overlap. Else -EPROTO with err saying what is wrong.
 */
int layout_validate(const struct layout *l, uint64_t ram_size, struct ktbpf_err *err);

/* 0 when a and b are the same table, else -EPROTO with err naming the first difference. */
int layout_compare(const struct layout *computed, const struct layout *reported,
		   struct ktbpf_err *err);

#endif
