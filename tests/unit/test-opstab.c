/* SPDX-License-Identifier: MIT */
/*
 * The struct_ops interfaces taken from BTF at discovery (lib/opstab.c,
 * private: included from lib/ like the library's own files). BTF is guest
 * data: a value type that is not one, too many interfaces, too many members
 * and overlong names are all bounded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <bpf/btf.h>

#include "../../lib/opstab-internal.h"

struct fixture {
	struct btf *btf;
	int u64, fnp;
};

static void fixture_init(struct fixture *f)
{
	int fn;

	f->btf = btf__new_empty();
	cr_assert_not_null(f->btf);
	f->u64 = btf__add_int(f->btf, "unsigned long long", 8, 0);
	fn = btf__add_func_proto(f->btf, f->u64);
	f->fnp = btf__add_ptr(f->btf, fn);
	cr_assert_gt(f->u64, 0);
	cr_assert_gt(f->fnp, 0);
}

/* struct <name> { nr_fn function pointers, then a u64 "flags" } and bpf_struct_ops_<name>. */
static int add_iface(struct fixture *f, const char *name, uint32_t nr_fn, bool data_is_struct)
{
	char buf[256];
	uint32_t i;
	int ops, val;

	ops = btf__add_struct(f->btf, name, 8 * (nr_fn + 1));
	cr_assert_gt(ops, 0);
	for (i = 0; i < nr_fn; i++) {
		snprintf(buf, sizeof(buf), "op%u", i);
		cr_assert_eq(btf__add_field(f->btf, buf, f->fnp, i * 64, 0), 0);
	}
	cr_assert_eq(btf__add_field(f->btf, "flags", f->u64, nr_fn * 64, 0), 0);
	snprintf(buf, sizeof(buf), "bpf_struct_ops_%s", name);
	val = btf__add_struct(f->btf, buf, 16 + 8 * (nr_fn + 1));
	cr_assert_gt(val, 0);
	cr_assert_eq(btf__add_field(f->btf, "refcnt", f->u64, 0, 0), 0);
	cr_assert_eq(btf__add_field(f->btf, "data", data_is_struct ? ops : f->u64, 128, 0), 0);
	return ops;
}

static struct ops_table *build(struct fixture *f)
{
	struct ops_table *t = NULL;
	struct ktbpf_err err = {0};

	cr_assert_eq(ops_table_build(f->btf, &t, &err), 0, "%s", err.msg);
	cr_assert_not_null(t);
	return t;
}

Test(opstab, interfaces_named_with_members_and_program_slots)
{
	struct fixture f;
	struct ops_table *t;
	const struct st_layout *l;
	int ops;

	fixture_init(&f);
	ops = add_iface(&f, "tcp_congestion_ops", 3, true);
	t = build(&f);
	cr_assert_eq(t->nr, 1);
	l = ops_by_type(t, (uint32_t)ops);
	cr_assert_not_null(l);
	cr_assert_eq(ops_by_value(t, l->value_id), l);
	cr_assert_str_eq(l->name, "tcp_congestion_ops");
	cr_assert_eq(l->size, 32);
	cr_assert_eq(l->nr_names, 4);
	cr_assert_str_eq(l->names[1], "op1");
	cr_assert_str_eq(l->names[3], "flags");
	cr_assert_eq(l->n, 3, "flags is no program slot");
	cr_assert_eq(l->m[2].off, 16);
	cr_assert_eq(l->m[2].index, 2);
	cr_assert_str_eq(l->m[2].name, "op2");
	cr_assert_not(l->capped);
	cr_assert_null(ops_by_type(t, 0));
	cr_assert_null(ops_by_value(t, (uint32_t)ops), "the ops struct is not its value type");
	ops_table_free(t);
	btf__free(f.btf);
}

/* bpf_struct_ops_value's data is a char array: not an interface. */
Test(opstab, value_type_whose_data_is_no_struct_is_not_an_interface)
{
	struct fixture f;
	struct ops_table *t;

	fixture_init(&f);
	add_iface(&f, "value", 1, false);
	add_iface(&f, "Qdisc_ops", 2, true);
	t = build(&f);
	cr_assert_eq(t->nr, 1);
	cr_assert_str_eq(t->iface[0].name, "Qdisc_ops");
	ops_table_free(t);
	btf__free(f.btf);
}

Test(opstab, hostile_btf_bounded_in_interfaces_members_and_names)
{
	char name[200];
	struct fixture f;
	struct ops_table *t;
	const struct st_layout *l;
	uint32_t i;
	int wide;

	fixture_init(&f);
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	wide = add_iface(&f, name, 100, true);
	for (i = 0; i < OPS_MAX_IFACES + 10; i++) {
		char n[32];

		snprintf(n, sizeof(n), "ops%u", i);
		add_iface(&f, n, 1, true);
	}
	t = build(&f);
	cr_assert_eq(t->nr, OPS_MAX_IFACES);
	cr_assert(t->capped);
	l = ops_by_type(t, (uint32_t)wide);
	cr_assert_not_null(l);
	cr_assert_eq(strlen(l->name), KTBPF_IFACE_LEN - 1, "names cut");
	cr_assert(l->capped);
	cr_assert_eq(l->nr_names, KTBPF_MAX_OPS_MEMBERS);
	cr_assert_eq(l->n, KTBPF_MAX_OPS_MEMBERS);
	cr_assert_lt(t->bytes, 64 * 1024, "the table stays small: %zu bytes", t->bytes);
	ops_table_free(t);
	btf__free(f.btf);
}

/* A moved table (kernel.c: settle()) reads the same and points only into its own block. */
Test(opstab, moved_table_reads_the_same)
{
	struct fixture f;
	struct ops_table *t;
	const struct st_layout *l;
	const char *lo, *hi;
	uint32_t j;
	int ops;

	fixture_init(&f);
	ops = add_iface(&f, "sched_ext_ops", 5, true);
	t = ops_table_move(build(&f));
	lo = (const char *)t;
	hi = lo + t->bytes;
	l = ops_by_type(t, (uint32_t)ops);
	cr_assert_not_null(l);
	cr_assert_str_eq(l->name, "sched_ext_ops");
	cr_assert(l->name >= lo && l->name < hi);
	for (j = 0; j < l->nr_names; j++)
		cr_assert((const char *)l->names[j] >= lo && (const char *)l->names[j] < hi);
	cr_assert_eq(l->n, 5);
	cr_assert_str_eq(l->m[4].name, "op4");
	cr_assert_eq(l->m[4].off, 32);
	ops_table_free(t);
	btf__free(f.btf);
}
