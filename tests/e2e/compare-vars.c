/* SPDX-License-Identifier: MIT */
/*
 * The variables half of compare-truth (compare-vars.h): the host's node tree
 * flattened to the guest's "map:path" -> text pairs, then both sets compared.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare-vars.h"

#define MAX_SHOWN 20 /* mismatch lines of one kind printed; the rest counted */

static int mismatches, shown;

static void mismatch(const char *fmt, const char *a, const char *b, const char *c)
{
	mismatches++;
	if (shown++ < MAX_SHOWN) {
		printf("MISMATCH vars: ");
		printf(fmt, a, b, c);
		printf("\n");
	}
}

/* The text of a host leaf, as the agent prints it. */
static const char *leaf_text(json_t *n, char *buf, size_t size)
{
	const char *kind = json_string_value(json_object_get(n, "kind"));
	json_t *v = json_object_get(n, "value");

	if (kind && !strcmp(kind, "error")) {
		snprintf(buf, size, "!%s", json_string_value(json_object_get(n, "error")));
		return buf;
	}
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, size, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(buf, size, "!no value (kind %s)", kind ? kind : "?");
	return buf;
}

/* Node n at path into out (an object of path -> text); children by the agent's rules. */
static void flatten(json_t *n, const char *path, json_t *out, int depth)
{
	const char *kind = json_string_value(json_object_get(n, "kind"));
	json_t *kids = json_object_get(n, "children"), *k;
	char sub[512], buf[64];
	size_t i;

	if (!kind || depth > 64)
		return;
	if (!strcmp(kind, "nosum"))
		return;
	if (!kids) {
		json_object_set_new(out, path, json_string(leaf_text(n, buf, sizeof(buf))));
		return;
	}
	json_array_foreach(kids, i, k)
	{
		const char *name = json_string_value(json_object_get(k, "name"));
		json_int_t idx = json_integer_value(json_object_get(k, "index"));

		if (!strcmp(kind, "array"))
			snprintf(sub, sizeof(sub), "%s[%" JSON_INTEGER_FORMAT "]", path, idx);
		else if (!strcmp(kind, "percpu") && name && !strcmp(name, "cpu"))
			snprintf(sub, sizeof(sub), "%s.cpu%" JSON_INTEGER_FORMAT, path, idx);
		else
			snprintf(sub, sizeof(sub), "%s.%s", path, name ? name : "?");
		flatten(k, sub, out, depth + 1);
	}
}

static json_t *flatten_host(json_t *host)
{
	json_t *out = json_object(), *maps = json_object_get(host, "maps"), *m, *v;
	size_t i, j;
	char path[512];

	json_array_foreach(maps, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		json_t *err = json_object_get(m, "error");

		if (err)
			mismatch("host could not decode map %s: %s%s", name ? name : "?",
				 json_string_value(json_object_get(err, "message")), "");
		json_array_foreach(json_object_get(m, "vars"), j, v)
		{
			if (json_object_get(v, "index") &&
			    !strcmp(json_string_value(json_object_get(v, "kind")), "percpu"))
				snprintf(path, sizeof(path), "%s:[%" JSON_INTEGER_FORMAT "]", name,
					 json_integer_value(json_object_get(v, "index")));
			else
				snprintf(path, sizeof(path), "%s:%s", name,
					 json_string_value(json_object_get(v, "name")));
			flatten(v, path, out, 0);
		}
	}
	return out;
}

int compare_vars(json_t *truth, json_t *host)
{
	json_t *want = json_object_get(json_object_get(truth, "vars"), "values"), *got, *v;
	json_t *diags = json_object_get(host, "diagnostics");
	const char *key;
	size_t i;

	mismatches = shown = 0;
	if (!json_is_object(want)) {
		fprintf(stderr, "compare-truth: the truth has no \"vars\".\"values\" object "
				"(nothing active, or an older agent)\n");
		return -1;
	}
	got = flatten_host(host);
	json_object_foreach(want, key, v)
	{
		json_t *h = json_object_get(got, key);

		if (!h)
			mismatch("%s: guest %s, host has no such variable%s", key,
				 json_string_value(v), "");
		else if (strcmp(json_string_value(v), json_string_value(h)))
			mismatch("%s: guest %s, host %s", key, json_string_value(v),
				 json_string_value(h));
	}
	json_object_foreach(got, key, v) if (!json_object_get(want, key)) mismatch(
		"%s: host %s, the guest has no such variable%s", key, json_string_value(v), "");
	if (json_is_true(json_object_get(host, "capped")))
		mismatch("host: capped%s%s%s", "", "", "");
	json_array_foreach(diags, i, v)
		mismatch("host diagnostic: %s%s%s",
			 json_string_value(json_object_get(v, "message")), "", "");
	if (!json_object_size(want))
		mismatch("the guest reports no variables at all%s%s%s", "", "", "");
	if (mismatches > shown)
		printf("MISMATCH vars: %d more\n", mismatches - MAX_SHOWN);
	if (!mismatches)
		printf("MATCH: %zu variables (leaves) of object %s\n", json_object_size(want),
		       json_string_value(
			       json_object_get(json_object_get(truth, "vars"), "object")));
	json_decref(got);
	return mismatches;
}
