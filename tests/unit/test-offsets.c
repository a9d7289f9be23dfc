/* SPDX-License-Identifier: MIT */
#include <bpf/btf.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "kit-btf.h"
#include "ktbpf/offsets.h"

static void assert_offsets_eq(const struct ktbpf_offsets *got, const struct ktbpf_offsets *want)
{
#define EQ(f)                                                                                      \
	cr_assert_eq(got->f, want->f, #f ": got %llu, want %llu", (unsigned long long)got->f,      \
		     (unsigned long long)want->f)
	EQ(prog_type);
	EQ(prog_expected_attach_type);
	EQ(prog_aux);
	EQ(prog_stats);
	EQ(aux_id);
	EQ(aux_verified_insns);
	EQ(aux_name);
	EQ(aux_used_maps);
	EQ(aux_used_map_cnt);
	EQ(aux_attach_btf_id);
	EQ(aux_attach_func_name);
	EQ(aux_prog);
	EQ(stats_cnt);
	EQ(stats_nsecs);
	EQ(stats_misses);
	EQ(has_misses);
	EQ(map_name);
	EQ(idr_xa_head);
	EQ(idr_next);
	EQ(xa.node_shift);
	EQ(xa.node_slots);
	EQ(xa.nr_slots);
	EQ(static_key_enabled);
#undef EQ
}

static void check_variant(enum kit_btf_variant v)
{
	struct kit_btf_layout l;
	struct ktbpf_offsets o;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(v, &l);
	int r = ktbpf_offsets_from_btf(btf, &o, &err);

	cr_assert_eq(r, 0, "variant %d: %d %s", v, r, err.msg);
	assert_offsets_eq(&o, &l.off);
	btf__free(btf);
}

Test(offsets, v61_layout_resolved)
{
	check_variant(KIT_BTF_V61);
}

Test(offsets, anonymous_members_resolved)
{
	struct kit_btf_layout l;

	btf__free(kit_btf_kernel_new(KIT_BTF_V612_ANON, &l));
	cr_assert_eq(l.off.prog_stats, 0x28, "the fixture puts stats in an anonymous struct");
	check_variant(KIT_BTF_V612_ANON);
}

Test(offsets, small_xa_nr_slots_from_btf)
{
	struct kit_btf_layout l;

	btf__free(kit_btf_kernel_new(KIT_BTF_SMALL_XA, &l));
	cr_assert_eq(l.off.xa.nr_slots, 16);
	check_variant(KIT_BTF_SMALL_XA);
}

Test(offsets, missing_misses_is_optional)
{
	struct kit_btf_layout l;
	struct ktbpf_offsets o;
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_NO_MISSES, &l);

	cr_assert_eq(ktbpf_offsets_from_btf(btf, &o, NULL), 0);
	cr_assert_not(o.has_misses);
	cr_assert_eq(o.stats_misses, KTBPF_OFFSET_NONE);
	assert_offsets_eq(&o, &l.off);
	btf__free(btf);
}

Test(offsets, missing_verified_insns_named)
{
	struct kit_btf_layout l;
	struct ktbpf_offsets o;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_NO_VERIFIED_INSNS, &l);

	memset(&o, 0xab, sizeof(o));
	cr_assert_eq(ktbpf_offsets_from_btf(btf, &o, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "bpf_prog_aux.verified_insns"), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "5.16"), "%s", err.msg);
	cr_assert_eq(o.prog_type, 0xabababab, "ret written on failure");
	btf__free(btf);
}

Test(offsets, missing_struct_named)
{
	struct ktbpf_offsets o;
	struct ktbpf_err err = {0};
	struct btf *btf = btf__new_empty();

	btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	cr_assert_eq(ktbpf_offsets_from_btf(btf, &o, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "bpf_prog.type"), "%s", err.msg);
	btf__free(btf);
}

Test(offsets, member_offset_through_anonymous_and_modifiers)
{
	struct kit_btf_layout l;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_V612_ANON, &l);
	uint32_t off = 7;

	cr_assert_eq(ktbpf_btf_member_offset(btf, "bpf_prog", "aux", &off, &err), 0, "%s", err.msg);
	cr_assert_eq(off, 0x40, "aux sits in a const anonymous union");
	cr_assert_eq(ktbpf_btf_member_offset(btf, "bpf_prog", "active", &off, &err), 0);
	cr_assert_eq(off, 0x30);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "xa_node", "rcu_head", &off, &err), 0);
	cr_assert_eq(off, 24);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "static_key_false", "key", &off, &err), 0);
	cr_assert_eq(off, 0);
	btf__free(btf);
}

Test(offsets, member_offset_errors)
{
	struct kit_btf_layout l;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_V61, &l);
	uint32_t off = 7;

	cr_assert_eq(ktbpf_btf_member_offset(btf, "bpf_prog", "nope", &off, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "bpf_prog.nope"), "%s", err.msg);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "no_such_struct", "x", &off, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "no_such_struct"), "%s", err.msg);
	/* jited is bit 16 of bpf_prog, a byte boundary; gpl_compatible is bit 18, not one. */
	cr_assert_eq(ktbpf_btf_member_offset(btf, "bpf_prog", "jited", &off, &err), 0);
	cr_assert_eq(off, 2);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "bpf_prog", "gpl_compatible", &off, &err),
		     -EINVAL);
	cr_assert_eq(off, 2, "ret untouched on failure");
	btf__free(btf);
}

/* An anonymous struct nested in itself must not recurse forever. */
Test(offsets, member_offset_anonymous_recursion_bounded)
{
	struct ktbpf_err err = {0};
	struct btf *btf = btf__new_empty();
	uint32_t off;
	int inner, self;

	inner = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	self = btf__add_struct(btf, NULL, 8); /* id inner + 1 */
	btf__add_field(btf, NULL, self, 0, 0);
	btf__add_field(btf, "x", inner, 32, 0);
	btf__add_struct(btf, "loop", 8);
	btf__add_field(btf, NULL, self, 0, 0);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "loop", "x", &off, &err), 0);
	cr_assert_eq(off, 4);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "loop", "y", &off, &err), -ENOENT);
	btf__free(btf);
}

/*
 * A hostile BTF (read from guest RAM) whose anonymous struct holds many
 * anonymous copies of itself: the search is 100^8 member visits deep unless
 * the total work is bounded. It must end fast with an error naming the type.
 */
Test(offsets, member_offset_anonymous_fanout_bounded, .timeout = 10)
{
	struct ktbpf_err err = {0};
	struct btf *btf = btf__new_empty();
	uint32_t off = 7;
	int inner, self, i;

	inner = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	self = btf__add_struct(btf, NULL, 8);
	for (i = 0; i < 100; i++)
		btf__add_field(btf, NULL, self, 0, 0);
	btf__add_struct(btf, "fan", 8);
	btf__add_field(btf, NULL, self, 0, 0);
	btf__add_field(btf, "x", inner, 32, 0);
	cr_assert_eq(ktbpf_btf_member_offset(btf, "fan", "x", &off, &err), -ELOOP, "%s", err.msg);
	cr_assert_eq(off, 7, "ret untouched on failure");
	cr_assert_not_null(strstr(err.msg, "fan.x"), "%s", err.msg);
	btf__free(btf);
}

Test(offsets, struct_member_name_for_struct_ops)
{
	struct kit_btf_layout l;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_V61, &l);
	const char *type = NULL, *member = NULL;

	cr_assert_eq(ktbpf_btf_struct_member_name(btf, l.tcp_ops_id, 1, &type, &member, &err), 0,
		     "%s", err.msg);
	cr_assert_str_eq(type, "tcp_congestion_ops");
	cr_assert_str_eq(member, "cong_avoid");
	cr_assert_eq(ktbpf_btf_struct_member_name(btf, l.scx_ops_id, 3, NULL, &member, &err), 0);
	cr_assert_str_eq(member, "dispatch");
	cr_assert_eq(ktbpf_btf_struct_member_name(btf, l.scx_ops_id, 0, &type, NULL, &err), 0);
	cr_assert_str_eq(type, "sched_ext_ops");
	btf__free(btf);
}

Test(offsets, struct_member_name_bounded)
{
	struct kit_btf_layout l;
	struct ktbpf_err err = {0};
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_V61, &l);
	const char *member = "untouched";

	cr_assert_eq(ktbpf_btf_struct_member_name(btf, l.tcp_ops_id, l.tcp_ops_nr_members, NULL,
						  &member, &err),
		     -ENOENT);
	cr_assert_not_null(strstr(err.msg, "tcp_congestion_ops"), "%s", err.msg);
	cr_assert_eq(ktbpf_btf_struct_member_name(btf, 0, 0, NULL, &member, &err), -ENOENT);
	cr_assert_eq(ktbpf_btf_struct_member_name(btf, UINT32_MAX, 0, NULL, &member, &err),
		     -ENOENT);
	cr_assert_eq(ktbpf_btf_struct_member_name(btf, 1, 0, NULL, &member, &err), -ENOENT,
		     "type 1 is an int, not a struct");
	cr_assert_str_eq(member, "untouched");
	btf__free(btf);
}

/* The raw blob parses back to the same offsets (what a guest-RAM BTF reader will see). */
Test(offsets, raw_blob_round_trips)
{
	struct kit_btf_layout l;
	struct ktbpf_offsets o;
	struct btf *btf = kit_btf_kernel_new(KIT_BTF_V612_ANON, &l), *back;
	uint32_t size;
	const void *raw = kit_btf_raw(btf, &size);

	cr_assert_eq(((const uint8_t *)raw)[0], 0x9f);
	cr_assert_eq(((const uint8_t *)raw)[1], 0xeb);
	back = btf__new(raw, size);
	cr_assert_not_null(back);
	cr_assert_eq(ktbpf_offsets_from_btf(back, &o, NULL), 0);
	assert_offsets_eq(&o, &l.off);
	btf__free(back);
	btf__free(btf);
}
