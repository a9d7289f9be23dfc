/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz-guest.h"

void fuzz_ranges_add(struct fuzz_ranges *r, uint64_t pa, uint64_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 4096;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		if (!r->v)
			fuzz_die("out of memory", NULL);
	}
	r->v[r->n++] = (struct fuzz_range){.pa = pa, .len = len};
}

void fuzz_ranges_trace(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct fuzz_ranges *r = ctx;

	if (!r->keep || r->keep(pa, len))
		fuzz_ranges_add(r, pa, len);
}

static int range_cmp(const void *a, const void *b)
{
	const struct fuzz_range *x = a, *y = b;

	return x->pa < y->pa ? -1 : x->pa > y->pa;
}

void fuzz_ranges_finish(struct fuzz_ranges *r)
{
	size_t n = 0;

	if (!r->n)
		fuzz_die("the clean run read nothing to patch", NULL);
	qsort(r->v, r->n, sizeof(*r->v), range_cmp);
	for (size_t i = 0; i < r->n; i++) {
		struct fuzz_range *last = n ? &r->v[n - 1] : NULL;

		if (last && r->v[i].pa <= last->pa + last->len) {
			uint64_t end = r->v[i].pa + r->v[i].len;

			if (end > last->pa + last->len)
				last->len = end - last->pa;
		} else {
			r->v[n++] = r->v[i];
		}
	}
	r->n = n;
	r->total = 0;
	for (size_t i = 0; i < n; i++) {
		r->v[i].cum = r->total;
		r->total += r->v[i].len;
	}
}

static uint64_t pick_pa(const struct fuzz_ranges *r, uint64_t off)
{
	size_t lo = 0, hi = r->n;

	off %= r->total;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].cum <= off)
			lo = mid;
		else
			hi = mid;
	}
	return r->v[lo].pa + (off - r->v[lo].cum);
}

void fuzz_patches_apply(struct fuzz_patches *p, const struct fuzz_ranges *r, struct kit_image *im,
			const uint8_t *data, size_t size)
{
	size_t n = size / FUZZ_PATCH_SIZE;

	if (n > FUZZ_MAX_PATCHES)
		n = FUZZ_MAX_PATCHES;
	for (size_t i = 0; i < n; i++) {
		uint32_t sel = fuzz_le32(data + FUZZ_PATCH_SIZE * i);
		uint64_t v = fuzz_le64(data + FUZZ_PATCH_SIZE * i + 4);
		/* ranges hold guest physical addresses; the image starts at gpa_base (arm64: 1 GiB)
		 */
		uint64_t off = pick_pa(r, sel & 0x3fffffff) - im->gpa_base;

		p->width[i] = 1u << (sel >> 30);
		if (off >= im->size)
			p->width[i] = 0;
		else if (off + p->width[i] > im->size)
			p->width[i] = (unsigned int)(im->size - off);
		p->pa[i] = off;
		p->saved[i] = 0;
		memcpy(&p->saved[i], im->buf + off, p->width[i]);
		memcpy(im->buf + off, &v, p->width[i]);
	}
	p->n = n;
}

void fuzz_patches_undo(struct fuzz_patches *p, struct kit_image *im)
{
	for (size_t i = p->n; i-- > 0;)
		memcpy(im->buf + p->pa[i], &p->saved[i], p->width[i]);
	p->n = 0;
}

void fuzz_patch_put(uint8_t *p, uint32_t sel, uint64_t v)
{
	memcpy(p, &sel, 4);
	memcpy(p + 4, &v, 8);
}

static void check_scx(const struct ktbpf_scx *x)
{
	const struct ktbpf_scx_exit *e = &x->exit;

	if (!memchr(e->kind_name, 0, sizeof(e->kind_name)) ||
	    !memchr(e->reason, 0, sizeof(e->reason)) || !memchr(e->msg, 0, sizeof(e->msg)) ||
	    e->bt_len > KTBPF_SCX_BT_LEN)
		fuzz_die("sched_ext exit record malformed", NULL);
	for (uint32_t i = 0; i < KTBPF_SCX_BT_LEN; i++)
		if (!memchr(e->bt_sym[i], 0, sizeof(e->bt_sym[i])))
			fuzz_die("backtrace symbol not terminated", NULL);
	if (e->dump && strnlen(e->dump, 1u << 24) == 1u << 24)
		fuzz_die("exit dump not terminated within 16 MiB", NULL);
	if (x->nr_events > KTBPF_SCX_MAX_EVENTS)
		fuzz_die("sched_ext events past their cap", NULL);
}

void fuzz_check_snapshot(const struct ktbpf_snapshot *s)
{
	if (s->nr_progs > KTBPF_MAX_PROGS || s->nr_progs > s->cap_progs ||
	    s->nr_diags > KTBPF_MAX_DIAGS)
		fuzz_die("snapshot past its caps", NULL);
	for (size_t i = 0; i < s->nr_progs; i++) {
		const struct ktbpf_prog *p = &s->progs[i];

		if (!memchr(p->name, 0, sizeof(p->name)) ||
		    !memchr(p->iface, 0, sizeof(p->iface)) ||
		    !memchr(p->member, 0, sizeof(p->member)) || p->nr_maps > KTBPF_MAX_USED_MAPS)
			fuzz_die("program record malformed", p->name);
		if (i && p->id <= s->progs[i - 1].id)
			fuzz_die("programs not in id order", NULL);
	}
	if (!memchr(s->active.obj_name, 0, sizeof(s->active.obj_name)) ||
	    !memchr(s->active.reason, 0, sizeof(s->active.reason)) ||
	    s->active.nr_instances > KTBPF_MAX_ACTIVE)
		fuzz_die("active object malformed", NULL);
	if (s->nr_instances > KTBPF_MAX_INSTANCES || s->nr_instances > s->cap_instances ||
	    !memchr(s->scx.ops_name, 0, sizeof(s->scx.ops_name)))
		fuzz_die("instances past their caps", NULL);
	for (size_t i = 0; i < s->nr_instances; i++) {
		const struct ktbpf_st_instance *in = &s->instances[i];

		if (in->nr_members > KTBPF_MAX_OPS_MEMBERS ||
		    !memchr(in->name, 0, sizeof(in->name)) ||
		    !memchr(in->iface, 0, sizeof(in->iface)) ||
		    !memchr(in->obj_name, 0, sizeof(in->obj_name)))
			fuzz_die("instance record malformed", in->name);
		if (i && in->map_id <= s->instances[i - 1].map_id)
			fuzz_die("instances not in map id order", NULL);
	}
	for (size_t i = 0; i < s->nr_diags; i++)
		if (!memchr(s->diags[i].msg, 0, sizeof(s->diags[i].msg)))
			fuzz_die("diagnostic not terminated", NULL);
	check_scx(&s->scx);
}
