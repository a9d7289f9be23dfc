/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ktbpf/openrpc.h"

/* rpc/openrpc.json, embedded at build time by rpc/embed-text.py. */
extern const char ktbpf_openrpc_text[];
extern const size_t ktbpf_openrpc_text_len;

json_t *ktbpf_openrpc_doc(void)
{
	return json_loadb(ktbpf_openrpc_text, ktbpf_openrpc_text_len, JSON_REJECT_DUPLICATES, NULL);
}

static bool served(const json_t *m)
{
	const char *dir = json_string_value(json_object_get(m, "x-ktbpf-direction"));

	return !dir || strcmp(dir, "daemon-to-vmm") != 0;
}

static const json_t *doc_method(const json_t *doc, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach(json_object_get(doc, "methods"), i,
			   m) if (served(m) && json_is_string(json_object_get(m, "name")) &&
				  strcmp(json_string_value(json_object_get(m, "name")), name) ==
					  0) return m;
	return NULL;
}

/* Does a content descriptor's schema say what the table's type says? */
static bool schema_matches(const json_t *schema, enum ktbpf_param_type t)
{
	const char *type = json_string_value(json_object_get(schema, "type"));
	const json_t *min = json_object_get(schema, "minimum");

	switch (t) {
	case KTBPF_PARAM_STRING:
		return type && strcmp(type, "string") == 0;
	case KTBPF_PARAM_INT:
		return type && strcmp(type, "integer") == 0 && !min;
	case KTBPF_PARAM_UINT:
		return type && strcmp(type, "integer") == 0 && json_is_integer(min) &&
		       json_integer_value(min) >= 0;
	case KTBPF_PARAM_BOOL:
		return type && strcmp(type, "boolean") == 0;
	case KTBPF_PARAM_OBJECT:
		return type ? strcmp(type, "object") == 0 : json_object_get(schema, "$ref") != NULL;
	case KTBPF_PARAM_ARRAY:
		return type && strcmp(type, "array") == 0;
	case KTBPF_PARAM_ANY:
		return true;
	}
	return false;
}

static const struct ktbpf_peer_param *table_param(const struct ktbpf_peer_method *m,
						  const char *name)
{
	for (const struct ktbpf_peer_param *p = m->params; p && p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int check_method(const json_t *dm, const struct ktbpf_peer_method *m, struct ktbpf_err *err)
{
	const json_t *params = json_object_get(dm, "params");
	bool has_fds = false;
	size_t i, ndoc = 0;
	json_t *cd;

	if (!json_is_array(params))
		return ktbpf_err_set(err, -EINVAL, "%s: no params list in the document", m->name);
	json_array_foreach(params, i, cd)
	{
		const char *name = json_string_value(json_object_get(cd, "name"));
		bool req = json_is_true(json_object_get(cd, "required"));
		const struct ktbpf_peer_param *p;

		if (!name)
			return ktbpf_err_set(err, -EINVAL, "%s: a param without a name", m->name);
		if (strcmp(name, "fds") == 0) {
			has_fds = true;
			continue;
		}
		ndoc++;
		p = table_param(m, name);
		if (!p)
			return ktbpf_err_set(err, -EINVAL,
					     "%s: param '%s' is in the document, not in the table",
					     m->name, name);
		if (p->required != req)
			return ktbpf_err_set(
				err, -EINVAL,
				"%s: param '%s' is %s in the document, %s in the table", m->name,
				name, req ? "required" : "optional",
				p->required ? "required" : "optional");
		if (!schema_matches(json_object_get(cd, "schema"), p->type))
			return ktbpf_err_set(err, -EINVAL,
					     "%s: param '%s' has another type in the document",
					     m->name, name);
	}
	if (has_fds != (m->max_fds > 0))
		return ktbpf_err_set(err, -EINVAL, "%s: the document %s fds, the table %s", m->name,
				     has_fds ? "takes" : "takes no",
				     m->max_fds ? "does" : "does not");
	for (const struct ktbpf_peer_param *p = m->params; p && p->name; p++)
		if (!ndoc--)
			return ktbpf_err_set(err, -EINVAL,
					     "%s: param '%s' is in the table, not in the document",
					     m->name, p->name);
	return 0;
}

int ktbpf_openrpc_check(const json_t *doc, const struct ktbpf_peer_method *methods, size_t n,
			struct ktbpf_err *err)
{
	size_t i, ndoc = 0;
	json_t *dm;
	int r;

	if (!json_is_array(json_object_get(doc, "methods")))
		return ktbpf_err_set(err, -EINVAL, "the document has no methods list");
	json_array_foreach(json_object_get(doc, "methods"), i, dm) ndoc += served(dm);
	for (i = 0; i < n; i++) {
		const json_t *m = doc_method(doc, methods[i].name);

		if (!m)
			return ktbpf_err_set(err, -EINVAL,
					     "%s is served but not in the OpenRPC document",
					     methods[i].name);
		r = check_method(m, &methods[i], err);
		if (r < 0)
			return r;
	}
	if (ndoc != n) {
		json_array_foreach(json_object_get(doc, "methods"), i, dm)
		{
			const char *name = json_string_value(json_object_get(dm, "name"));
			size_t k;

			for (k = 0; k < n && name && strcmp(methods[k].name, name) != 0; k++)
				;
			if (served(dm) && k == n)
				return ktbpf_err_set(err, -EINVAL,
						     "%s is in the OpenRPC document but not served",
						     name ? name : "(a method without a name)");
		}
		return ktbpf_err_set(err, -EINVAL, "the document lists a served method twice");
	}
	return 0;
}
