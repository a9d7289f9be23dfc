/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktbpf/json.h"
#include "ktbpf/jsonrpc.h"

static const struct {
	int code;
	const char *kind;
} kinds[] = {
	{KTBPF_JSONRPC_PARSE_ERROR, "parse_error"},
	{KTBPF_JSONRPC_INVALID_REQUEST, "invalid_request"},
	{KTBPF_JSONRPC_METHOD_NOT_FOUND, "method_not_found"},
	{KTBPF_JSONRPC_INVALID_PARAMS, "invalid_params"},
	{KTBPF_JSONRPC_INTERNAL_ERROR, "internal_error"},
	{KTBPF_JSONRPC_VM_UNKNOWN, "vm_unknown"},
	{KTBPF_JSONRPC_NOT_PERMITTED, "not_permitted"},
	{KTBPF_JSONRPC_KERNEL_NOT_READY, "kernel_not_ready"},
	{KTBPF_JSONRPC_FREEZE_TIMEOUT, "freeze_timeout"},
	{KTBPF_JSONRPC_GUEST_MEMORY, "guest_memory"},
	{KTBPF_JSONRPC_LIMIT, "limit"},
	{KTBPF_JSONRPC_DUMP_UNKNOWN, "dump_unknown"},
};

const char *ktbpf_jsonrpc_kind(int code)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].code == code)
			return kinds[i].kind;
	if (code >= -32099 && code <= -32000)
		return "server_error";
	return "error";
}

static bool valid_utf8(const char *s)
{
	json_t *t = json_string(s);

	json_decref(t);
	return t != NULL;
}

json_t *ktbpf_jsonrpc_error(int code, json_t *data, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!data)
		data = json_object();
	if (!json_is_object(data)) {
		json_decref(data);
		return NULL;
	}
	if (json_object_set_new(data, "kind", json_string(ktbpf_jsonrpc_kind(code))) < 0) {
		json_decref(data);
		return NULL;
	}
	/* The message may quote client bytes or be cut inside a UTF-8
	 * sequence: jansson refuses invalid UTF-8, so fall back to ASCII. */
	if (!valid_utf8(msg))
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
	return json_pack("{s:i, s:s, s:o}", "code", code, "message", msg, "data", data);
}

static json_t *id_or_null(json_t *id)
{
	return id ? json_incref(id) : json_null();
}

json_t *ktbpf_jsonrpc_response(json_t *id, json_t *result)
{
	if (!result)
		return NULL;
	return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "result", result, "id",
			 id_or_null(id));
}

char *ktbpf_jsonrpc_response_text(const json_t *id, const char *result, size_t result_len,
				  size_t *ret_len)
{
	struct ktbpf_json_writer w = {0};

	ktbpf_json_w_object(&w);
	ktbpf_json_w_key(&w, "jsonrpc");
	ktbpf_json_w_string(&w, "2.0", 3);
	ktbpf_json_w_key(&w, "result");
	ktbpf_json_w_raw(&w, result, result_len);
	ktbpf_json_w_key(&w, "id");
	if (id)
		ktbpf_json_w_value(&w, id);
	else
		ktbpf_json_w_null(&w);
	ktbpf_json_w_end_object(&w);
	return ktbpf_json_w_finish(&w, ret_len);
}

json_t *ktbpf_jsonrpc_error_response(json_t *id, json_t *error)
{
	if (!error)
		return NULL;
	return json_pack("{s:s, s:o, s:o}", "jsonrpc", "2.0", "error", error, "id", id_or_null(id));
}

json_t *ktbpf_jsonrpc_request(const char *method, json_t *params, json_t *id)
{
	json_t *m = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);

	if (!m) {
		json_decref(params);
		return NULL;
	}
	if (params && json_object_set_new(m, "params", params) < 0)
		goto fail;
	if (id && json_object_set(m, "id", id) < 0)
		goto fail;
	return m;
fail:
	json_decref(m);
	return NULL;
}

char *ktbpf_jsonrpc_encode(const json_t *msg, size_t *ret_len)
{
	return ktbpf_json_encode(msg, ret_len);
}

static bool valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

static enum ktbpf_jsonrpc_type invalid(json_t **ret_error, const char *what)
{
	if (ret_error)
		*ret_error = ktbpf_jsonrpc_error(KTBPF_JSONRPC_INVALID_REQUEST, NULL,
						 "invalid request: %s", what);
	return KTBPF_JSONRPC_T_INVALID;
}

static enum ktbpf_jsonrpc_type classify_response(const json_t *msg, json_t **ret_error)
{
	const json_t *e = json_object_get(msg, "error");
	size_t want = 3;

	if (!json_object_get(msg, "id") || !valid_id(json_object_get(msg, "id")))
		return invalid(ret_error, "a response needs an id (string, number or null)");
	if (!!e == !!json_object_get(msg, "result"))
		return invalid(ret_error, "a response has exactly one of result and error");
	if (e && (!json_is_object(e) || !json_is_integer(json_object_get(e, "code")) ||
		  !json_is_string(json_object_get(e, "message"))))
		return invalid(ret_error, "an error needs an integer code and a string message");
	if (json_object_size(msg) != want)
		return invalid(ret_error, "a response has only jsonrpc, id and result or error");
	return KTBPF_JSONRPC_T_RESPONSE;
}

enum ktbpf_jsonrpc_type ktbpf_jsonrpc_classify(const json_t *msg, json_t **ret_error)
{
	const json_t *v, *method, *params, *id;
	size_t known;

	if (!json_is_object(msg))
		return invalid(ret_error, "a message is a JSON object (or a batch: an array)");
	v = json_object_get(msg, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
		return invalid(ret_error, "\"jsonrpc\" must be exactly \"2.0\"");
	method = json_object_get(msg, "method");
	if (!method)
		return classify_response(msg, ret_error);
	if (!json_is_string(method))
		return invalid(ret_error, "\"method\" must be a string");
	params = json_object_get(msg, "params");
	if (params && !json_is_object(params) && !json_is_array(params))
		return invalid(ret_error, "\"params\" must be an object or an array");
	id = json_object_get(msg, "id");
	if (id && !valid_id(id))
		return invalid(ret_error, "\"id\" must be a string, a number or null");
	known = 2 + !!params + !!id;
	if (json_object_size(msg) != known)
		return invalid(ret_error, "a request has only jsonrpc, method, params and id");
	return id ? KTBPF_JSONRPC_T_REQUEST : KTBPF_JSONRPC_T_NOTIFICATION;
}
