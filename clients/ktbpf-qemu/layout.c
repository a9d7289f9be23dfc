/* SPDX-License-Identifier: MIT */
/*
 * The guest's RAM layout: computed from the machine type and size the way
 * QEMU 7.2 does it, and read back from QEMU's own memory tree, so that
 * ktbpf-qemu never registers a table QEMU does not use.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define GiB	 (1ULL << 30)
#define FOUR_GIB (4 * GiB)

/* More CPUs than any QEMU accepts (x86 and arm64 cap well below this). */
#define SMP_MAX (1U << 20)

static const char *const smp_keys[] = {
	"cpus", "maxcpus",  "drawers", "books", "sockets",
	"dies", "clusters", "modules", "cores", "threads",
};
#define NR_SMP_KEYS (sizeof(smp_keys) / sizeof(smp_keys[0]))

/* One "key=value" (or a leading bare count) of s into vals; false when it is not one. */
static bool smp_element(const char *e, size_t n, bool first, uint64_t vals[NR_SMP_KEYS])
{
	const char *eq = memchr(e, '=', n);
	size_t kn = eq ? (size_t)(eq - e) : 0, i = 0;
	uint64_t v = 0;
	const char *p;

	if (!eq) {
		if (!first)
			return false;
		eq = e - 1; /* the bare count is cpus= */
	} else {
		for (i = 0; i < NR_SMP_KEYS; i++)
			if (strlen(smp_keys[i]) == kn && !strncmp(e, smp_keys[i], kn))
				break;
		if (i == NR_SMP_KEYS)
			return false;
	}
	if (eq + 1 == e + n)
		return false;
	for (p = eq + 1; p < e + n; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > SMP_MAX)
			return false;
	}
	vals[i] = v;
	return true;
}

uint32_t layout_smp_cpus(const char *const *smp, unsigned int n)
{
	uint64_t vals[NR_SMP_KEYS] = {0}, cpus = 1;

	if (!n)
		return 0;
	for (unsigned int k = 0; k < n; k++) {
		const char *s = smp[k];
		bool first = true;

		while (*s) {
			size_t len = strcspn(s, ",");

			if (len && !smp_element(s, len, first, vals))
				return 0;
			first = false;
			s += len;
			if (*s == ',')
				s++;
		}
	}
	if (vals[0])
		return (uint32_t)vals[0];
	if (vals[1])
		return (uint32_t)vals[1];
	for (size_t i = 2; i < NR_SMP_KEYS; i++) {
		cpus *= vals[i] ? vals[i] : 1;
		if (cpus > SMP_MAX)
			return 0;
	}
	return (uint32_t)cpus;
}

int layout_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long whole = 0, frac = 0, scale = 1;
	unsigned int shift = 20, digits = 0;
	const char *p = s;
	__uint128_t v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (~0ULL - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (unsigned)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (digits == 9)
				return -EINVAL; /* more precision than a byte count needs */
			frac = frac * 10 + (unsigned)(*p - '0');
			scale *= 10;
			digits++;
		}
		if (!digits)
			return -EINVAL;
	}
	switch (*p) {
	case '\0':
		break;
	case 'b':
	case 'B':
		shift = 0;
		p++;
		break;
	case 'k':
	case 'K':
		shift = 10;
		p++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		p++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		p++;
		break;
	case 't':
	case 'T':
		shift = 40;
		p++;
		break;
	default:
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	v = ((__uint128_t)whole << shift) + (((__uint128_t)frac << shift) / scale);
	if (v > INT64_MAX)
		return -ERANGE;
	if (!v)
		return -EINVAL;
	*ret = (uint64_t)v;
	return 0;
}

int layout_parse_machine(const char *type, enum layout_machine *ret, struct ktbpf_err *err)
{
	char name[64];
	size_t n;

	if (!strncmp(type, "type=", 5))
		type += 5;
	n = strcspn(type, ",");
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, type, n);
	name[n] = 0;
	if (!strcmp(name, "pc") || !strncmp(name, "pc-i440fx-", 10)) {
		*ret = LAYOUT_PC;
		return 0;
	}
	if (!strcmp(name, "q35") || !strncmp(name, "pc-q35-", 7)) {
		*ret = LAYOUT_Q35;
		return 0;
	}
	return ktbpf_err_set(err, -EOPNOTSUPP,
			     "machine type '%s' is not supported: its RAM layout is unknown "
			     "(pc and q35 are)",
			     name);
}

void layout_compute(enum layout_machine m, uint64_t ram_size, struct layout *ret)
{
	/* hw/i386/pc_piix.c: lowmem 0xe0000000, 0xc0000000 (gigabyte_align) when
	 * ram_size >= it; hw/i386/pc_q35.c: 0xb0000000, else 0x80000000. */
	uint64_t limit = m == LAYOUT_PC ? 0xe0000000ULL : 0xb0000000ULL;
	uint64_t split = m == LAYOUT_PC ? 0xc0000000ULL : 0x80000000ULL;
	uint64_t low = ram_size >= limit ? split : ram_size;

	memset(ret, 0, sizeof(*ret));
	ret->r[0] = (struct layout_region){.gpa = 0, .size = low, .offset = 0};
	ret->n = 1;
	if (ram_size > low) {
		ret->r[1] = (struct layout_region){
			.gpa = FOUR_GIB, .size = ram_size - low, .offset = low};
		ret->n = 2;
	}
}

/*
 * Parse "START-END (prio P, ram): alias NAME @BACKEND OSTART-OEND" from line.
 * Machine types before 4.0 (pc-i440fx-2.x, pc-q35-3.1, ...) name the backend's
 * region by its QOM path, "/objects/BACKEND" (hw/core/machine.c: the
 * x-use-canonical-path-for-ramblock-id compat property).
 */
static int parse_alias(const char *line, const char *alias, const char *backend,
		       struct layout_region *ret)
{
	unsigned long long s, e, os, oe;
	char want[160];
	const char *a;

	snprintf(want, sizeof(want), "alias %s @%s ", alias, backend);
	a = strstr(line, want);
	if (!a) {
		snprintf(want, sizeof(want), "alias %s @/objects/%s ", alias, backend);
		a = strstr(line, want);
	}
	if (!a)
		return 0;
	if (sscanf(line, " %llx-%llx", &s, &e) != 2 ||
	    sscanf(a + strlen(want), "%llx-%llx", &os, &oe) != 2 || e < s || oe < os ||
	    e - s != oe - os || e == UINT64_MAX)
		return -EINVAL;
	*ret = (struct layout_region){.gpa = s, .size = e - s + 1, .offset = os};
	return 1;
}

int layout_from_mtree(const char *mtree, const char *backend, struct layout *ret,
		      struct ktbpf_err *err)
{
	static const char *const aliases[] = {"ram-below-4g", "ram-above-4g"};
	struct layout l = {0};
	bool seen[2] = {false, false};
	const char *line = mtree;
	unsigned int lines = 0;
	bool in_memory = false, started = false;

	/* Bounded: `info mtree` of a PC is a few hundred lines. */
	while (line && *line && lines++ < 100000) {
		const char *nl = strchr(line, '\n');
		char buf[512];
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len >= sizeof(buf))
			len = sizeof(buf) - 1;
		memcpy(buf, line, len);
		buf[len] = 0;
		if (len && buf[len - 1] == '\r') /* HMP text through QMP ends lines with \r\n */
			buf[len - 1] = 0;
		/* Only the tree under "address-space: memory" (other address spaces
		 * and the "memory-region:" listings repeat the aliases). */
		if (!in_memory) {
			in_memory = !strcmp(buf, "address-space: memory");
			line = nl ? nl + 1 : NULL;
			continue;
		}
		if (buf[0] != ' ' && started)
			break;
		started = true;
		for (unsigned int i = 0; i < 2; i++) {
			struct layout_region r;
			int k = seen[i] ? 0 : parse_alias(buf, aliases[i], backend, &r);

			if (k < 0)
				return ktbpf_err_set(err, -EINVAL,
						     "QEMU's memory tree has a %s line ktbpf-qemu "
						     "cannot read: %s",
						     aliases[i], buf);
			if (k > 0) {
				l.r[i] = r;
				seen[i] = true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!seen[0])
		return ktbpf_err_set(err, -ENOENT,
				     "QEMU's memory tree (address-space: memory) has no "
				     "ram-below-4g alias of the RAM backend '%s'",
				     backend);
	l.n = 1;
	if (seen[1])
		l.r[l.n++] = l.r[1];
	*ret = l;
	return 0;
}

int layout_validate(const struct layout *l, uint64_t ram_size, struct ktbpf_err *err)
{
	uint64_t off = 0;

	if (!l->n || l->n > LAYOUT_MAX_REGIONS)
		return ktbpf_err_set(err, -EPROTO, "QEMU's RAM table has %u regions", l->n);
	for (unsigned int i = 0; i < l->n; i++) {
		const struct layout_region *r = &l->r[i];

		if (!r->size || r->offset != off || r->size > ram_size - off ||
		    r->gpa + r->size - 1 < r->gpa)
			return ktbpf_err_set(err, -EPROTO,
					     "QEMU's RAM region %u (gpa 0x%" PRIx64
					     " size 0x%" PRIx64 " offset 0x%" PRIx64
					     ") is not the next part of the "
					     "0x%" PRIx64 "-byte RAM",
					     i, r->gpa, r->size, r->offset, ram_size);
		if (i && r->gpa < l->r[i - 1].gpa + l->r[i - 1].size)
			return ktbpf_err_set(
				err, -EPROTO,
				"QEMU's RAM regions %u and %u overlap or are out of order", i - 1,
				i);
		off += r->size;
	}
	if (off != ram_size)
		return ktbpf_err_set(err, -EPROTO,
				     "QEMU's RAM regions hold 0x%" PRIx64 " of 0x%" PRIx64 " bytes",
				     off, ram_size);
	return 0;
}

int layout_compare(const struct layout *computed, const struct layout *reported,
		   struct ktbpf_err *err)
{
	if (computed->n != reported->n)
		return ktbpf_err_set(err, -EPROTO,
				     "QEMU split the RAM into %u region(s), ktbpf-qemu computed %u",
				     reported->n, computed->n);
	for (unsigned int i = 0; i < computed->n; i++) {
		const struct layout_region *c = &computed->r[i], *r = &reported->r[i];

		if (c->gpa != r->gpa || c->size != r->size || c->offset != r->offset)
			return ktbpf_err_set(
				err, -EPROTO,
				"RAM region %u: QEMU has gpa 0x%" PRIx64 " size 0x%" PRIx64
				" offset 0x%" PRIx64 ", ktbpf-qemu computed gpa 0x%" PRIx64
				" size 0x%" PRIx64 " offset 0x%" PRIx64,
				i, r->gpa, r->size, r->offset, c->gpa, c->size, c->offset);
	}
	return 0;
}
