/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ktbpf/codec-vars.h"
#include "ktbpf/codec.h"

static json_t *uint_value(uint64_t u)
{
	char buf[24];

	if (u <= INT64_MAX)
		return json_integer((json_int_t)u);
	snprintf(buf, sizeof(buf), "%" PRIu64, u);
	return json_string(buf);
}

static json_t *leaf_value(const struct ktbpf_var *n)
{
	switch (n->kind) {
	case KTBPF_VAR_INT:
		return json_integer(n->i);
	case KTBPF_VAR_UINT:
		return uint_value(n->u);
	case KTBPF_VAR_BOOL:
		return json_boolean(n->u);
	case KTBPF_VAR_ENUM:
		return n->str ? ktbpf_codec_text(n->str) : json_integer(n->i);
	case KTBPF_VAR_FLOAT:
		return json_real(n->f);
	case KTBPF_VAR_STRING:
		return ktbpf_codec_text(n->str);
	case KTBPF_VAR_PTR:
		return ktbpf_codec_hex(n->u);
	default:
		return NULL;
	}
}

static bool has_index(const struct ktbpf_var *n, const struct ktbpf_var *parent)
{
	if (!parent)
		return n->kind == KTBPF_VAR_PERCPU;
	return parent->kind == KTBPF_VAR_ARRAY || !strcmp(n->name, "cpu");
}

/* The node at *i and its subtree (advances *i past it). */
static json_t *node(const struct ktbpf_vars *v, size_t *i, size_t end,
		    const struct ktbpf_var *parent)
{
	const struct ktbpf_var *n = &v->nodes[(*i)++];
	json_t *o = json_pack("{s:o, s:o, s:s}", "name", ktbpf_codec_text(n->name), "type",
			      ktbpf_codec_text(n->type), "kind", ktbpf_var_kind_name(n->kind));
	json_t *kids, *val;
	uint32_t c;

	if (!o)
		return NULL;
	if (has_index(n, parent) && json_object_set_new(o, "index", json_integer(n->index)) < 0)
		goto fail;
	switch (n->kind) {
	case KTBPF_VAR_STRUCT:
	case KTBPF_VAR_UNION:
	case KTBPF_VAR_ARRAY:
	case KTBPF_VAR_PERCPU:
		kids = json_array();
		if (!kids || json_object_set_new(o, "children", kids) < 0)
			goto fail;
		for (c = 0; c < n->nr_children && *i < end; c++) {
			json_t *k = node(v, i, end, n);

			if (!k || json_array_append_new(kids, k) < 0)
				goto fail;
		}
		return o;
	case KTBPF_VAR_NOSUM:
		return o;
	case KTBPF_VAR_ERROR:
		if (json_object_set_new(o, "error", ktbpf_codec_text(n->str)) < 0)
			goto fail;
		return o;
	default:
		val = leaf_value(n);
		if (!val || json_object_set_new(o, "value", val) < 0)
			goto fail;
		return o;
	}
fail:
	json_decref(o);
	return NULL;
}

static json_t *map(const struct ktbpf_vars *v, const struct ktbpf_vars_map *m)
{
	json_t *vars = json_array(), *o;
	size_t i = m->first, end = m->first + m->nr;

	o = json_pack("{s:I, s:o, s:o, s:s, s:I, s:I}", "id", (json_int_t)m->id, "name",
		      ktbpf_codec_text(m->name), "section", ktbpf_codec_text(m->section), "type",
		      m->map_type == KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY ? "percpu_array" : "array",
		      "value_size", (json_int_t)m->value_size, "max_entries",
		      (json_int_t)m->max_entries);
	if (!o || !vars)
		goto fail;
	if (m->map_type == KTBPF_BPF_MAP_TYPE_PERCPU_ARRAY &&
	    json_object_set_new(o, "cpus", json_integer(m->nr_cpus)) < 0)
		goto fail;
	if (m->error &&
	    json_object_set_new(o, "error",
				json_pack("{s:s, s:o}", "code", ktbpf_codec_errno_name(m->error),
					  "message", ktbpf_codec_text(m->msg))) < 0)
		goto fail;
	while (i < end) {
		json_t *n = node(v, &i, end, NULL);

		if (!n || json_array_append_new(vars, n) < 0)
			goto fail;
	}
	json_object_set_new(o, "vars", vars);
	return o;
fail:
	json_decref(vars);
	json_decref(o);
	return NULL;
}

json_t *ktbpf_codec_vars(const struct ktbpf_vars *v)
{
	json_t *maps = json_array(), *diags = json_array(), *root;
	size_t i;

	for (i = 0; maps && i < v->nr_maps; i++)
		if (json_array_append_new(maps, map(v, &v->maps[i])) < 0)
			maps = (json_decref(maps), NULL);
	for (i = 0; diags && i < v->nr_diags; i++)
		if (json_array_append_new(
			    diags, json_pack("{s:s, s:o, s:o}", "code",
					     ktbpf_codec_errno_name(v->diags[i].code), "addr",
					     ktbpf_codec_hex(v->diags[i].addr), "message",
					     ktbpf_codec_text(v->diags[i].msg))) < 0)
			diags = (json_decref(diags), NULL);
	if (!maps || !diags) {
		json_decref(maps);
		json_decref(diags);
		return NULL;
	}
	root = json_pack("{s:o, s:o, s:b, s:o}", "object", ktbpf_codec_text(v->obj), "maps", maps,
			 "capped", v->capped, "diagnostics", diags);
	if (root && v->diags_dropped)
		json_object_set_new(root, "diagnostics_dropped",
				    ktbpf_codec_count(v->diags_dropped));
	return root;
}

json_t *ktbpf_codec_vars_result(const struct ktbpf_vars *v, int r, const struct ktbpf_err *err)
{
	if (r == 0 && v)
		return ktbpf_codec_vars(v);
	return json_pack("{s:{s:s, s:o}}", "error", "code", ktbpf_codec_errno_name(r ? r : -EIO),
			 "message", ktbpf_codec_text(err && err->msg[0] ? err->msg : "not read"));
}
