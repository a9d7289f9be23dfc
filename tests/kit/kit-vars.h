/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_KIT_VARS_H
#define KTBPF_KIT_VARS_H

/*
 * A BPF object's global-section and per-CPU array maps in a kit guest, as
 * the kernel keeps them (include/linux/bpf.h struct bpf_array, value[]
 * page aligned in a vmalloc area whose pages are not physically
 * contiguous, kernel/bpf/arraymap.c: array_map_alloc(); per-CPU values from
 * the kit's per-CPU allocator), with the object's BTF blob in a vmalloc
 * area behind a struct btf (kernel/bpf/btf.c). Call after kit_guest_new(),
 * before kit_guest_kernel().
 *
 * Test-only code: misuse aborts with a message.
 */

#include <stdbool.h>
#include <stdint.h>

#include "kit-guest.h"

struct kit_vars_map_spec {
	const char *name; /* "obj.bss" (15 bytes at most) */
	uint32_t type;	  /* KTBPF_BPF_MAP_TYPE_ARRAY or _PERCPU_ARRAY */
	const void *btf;  /* raw BTF blob; NULL: the map has no BTF */
	uint32_t btf_size;
	uint64_t btf_kva;	/* share this struct btf instead (0: a new one from btf) */
	uint32_t value_type_id; /* bpf_map.btf_value_type_id */
	uint32_t value_size, max_entries;
	/*
	 * ARRAY: value_size bytes (element 0). PERCPU_ARRAY: max_entries x
	 * g->nr_cpus values of value_size bytes, [entry][cpu]. NULL: zeros.
	 */
	const void *value;
};

/* The map in map_idr with the next id; *ret_btf_kva (may be NULL) its struct btf. */
uint64_t kit_vars_map_new(struct kit_guest *g, const struct kit_vars_map_spec *sp, uint32_t *ret_id,
			  uint64_t *ret_btf_kva);

/* Program prog_id's used_maps become exactly kvas[0..n) (a new array). */
void kit_vars_set_used_maps(struct kit_guest *g, uint32_t prog_id, const uint64_t *kvas,
			    uint32_t n);

/*
 * The scx convention's exit copy (sched-ext/scx user_exit_info.h): struct
 * user_exit_info {int kind; s64 exit_code; char reason[128]; char
 * msg[1024];} uei, alone in .data at offset 0. kind_as_chars: a hostile
 * object whose kind is a char[4].
 */
#define KIT_UEI_SIZE (8 + 8 + 128 + 1024)

/* value (KIT_UEI_SIZE bytes) = {kind, code, reason, msg}. */
void kit_vars_uei_value(uint8_t *value, int32_t kind, int64_t code, const char *reason,
			const char *msg);

/*
 * Map "<obj>.data" holding uei = value (KIT_UEI_SIZE bytes), with its BTF,
 * made the only map of every program of obj. Returns the map's kva.
 */
uint64_t kit_vars_uei_map(struct kit_guest *g, const char *obj, const uint8_t *value,
			  bool kind_as_chars);

#endif
