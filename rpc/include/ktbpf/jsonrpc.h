/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_JSONRPC_H
#define KTBPF_JSONRPC_H

/*
 * JSON-RPC 2.0 messages (https://www.jsonrpc.org/specification) as jansson
 * values: the error codes, including ktbpf's own server range, and the
 * builders and checks the peer (ktbpf/peer.h) and clients use.
 *
 * Every error object carries a message a person can act on and a `data`
 * object whose `kind` names the error for programs
 * (`{"code":-32000,"message":"vm 'g3' is not registered","data":{"kind":
 * "vm_unknown","vm":"g3"}}`); more members of data depend on the kind and are
 * described in rpc/openrpc.json.
 *
 * Thread safety: the functions keep no state; jansson values are not shared.
 */

#include <jansson.h>
#include <stddef.h>

enum ktbpf_jsonrpc_code {
	/* The specification's codes. */
	KTBPF_JSONRPC_PARSE_ERROR = -32700,	 /* not JSON; kind "parse_error" */
	KTBPF_JSONRPC_INVALID_REQUEST = -32600,	 /* not a request; "invalid_request" */
	KTBPF_JSONRPC_METHOD_NOT_FOUND = -32601, /* "method_not_found", data.method */
	KTBPF_JSONRPC_INVALID_PARAMS = -32602,	 /* "invalid_params", data.param */
	KTBPF_JSONRPC_INTERNAL_ERROR = -32603,	 /* "internal_error" */
	/* ktbpf's server range (-32000..-32099, implementation-defined). */
	KTBPF_JSONRPC_VM_UNKNOWN = -32000,	 /* "vm_unknown": no such VM (data.vm) */
	KTBPF_JSONRPC_NOT_PERMITTED = -32001,	 /* "not_permitted": another uid's VM */
	KTBPF_JSONRPC_KERNEL_NOT_READY = -32002, /* "kernel_not_ready": data.retry, data.reason */
	KTBPF_JSONRPC_FREEZE_TIMEOUT = -32003,	 /* "freeze_timeout": data.timeout_ms */
	KTBPF_JSONRPC_GUEST_MEMORY = -32004,	 /* "guest_memory": data.addr when known */
	KTBPF_JSONRPC_LIMIT = -32005,		 /* "limit": data.limit (its name), data.max */
	KTBPF_JSONRPC_DUMP_UNKNOWN = -32006,	 /* "dump_unknown": no such dump (data.dump) */
};

/* The `data.kind` string of a code (e.g. "vm_unknown"); "server_error" for
 * other codes in -32099..-32000, "error" for any other code. */
const char *ktbpf_jsonrpc_kind(int code);

/*
 * A new error object {code, message, data}: the message is printf-formatted;
 * data is a JSON object to extend (stolen; NULL for none) and gets `kind`
 * set from the code. NULL on allocation failure.
 */
json_t *ktbpf_jsonrpc_error(int code, json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* {"jsonrpc":"2.0","result":result,"id":id}: result stolen, id borrowed
 * (json null when NULL). NULL on allocation failure. */
json_t *ktbpf_jsonrpc_response(json_t *id, json_t *result);

/*
 * The same response as a line (ktbpf_jsonrpc_encode()'s bytes) around a
 * result that is already JSON text (result_len bytes, one value, the
 * caller's word for it): a large answer is never a tree. NULL on allocation
 * failure; *ret_len the line's length.
 */
char *ktbpf_jsonrpc_response_text(const json_t *id, const char *result, size_t result_len,
				  size_t *ret_len);

/* {"jsonrpc":"2.0","error":error,"id":id}: error stolen, id borrowed (json
 * null when NULL: the id could not be read). NULL on allocation failure. */
json_t *ktbpf_jsonrpc_error_response(json_t *id, json_t *error);

/* A request (id non-NULL, borrowed) or notification (id NULL); params
 * stolen, omitted when NULL. NULL on allocation failure. */
json_t *ktbpf_jsonrpc_request(const char *method, json_t *params, json_t *id);

/*
 * The message as one compact line without "\n" (jansson escapes control
 * characters in strings, so a line never contains one). Returns a string to
 * free() and its length, or NULL on allocation failure.
 */
char *ktbpf_jsonrpc_encode(const json_t *msg, size_t *ret_len);

enum ktbpf_jsonrpc_type {
	KTBPF_JSONRPC_T_INVALID,
	KTBPF_JSONRPC_T_REQUEST,
	KTBPF_JSONRPC_T_NOTIFICATION,
	KTBPF_JSONRPC_T_RESPONSE,
};

/*
 * What a single (non-batch) message is. A request has "jsonrpc":"2.0", a
 * string method, params that are an object or array when present and an id
 * that is a string, number or null (a notification has no id); a response
 * has an id and exactly one of result and error (an object with an integer
 * code and a string message). No other members are accepted. For an invalid
 * message *ret_error (when ret_error is non-NULL) is a new -32600 error
 * object saying what is wrong.
 */
enum ktbpf_jsonrpc_type ktbpf_jsonrpc_classify(const json_t *msg, json_t **ret_error);

#endif
