/* SPDX-License-Identifier: MIT */
#ifndef KTBPF_OPENRPC_H
#define KTBPF_OPENRPC_H

/*
 * The OpenRPC document (rpc/openrpc.json, https://spec.open-rpc.org) is the
 * authority on ktbpfd's API: rpc.discover serves it as built in, and
 * ktbpf_openrpc_check() holds a method table to it, so the daemon cannot
 * serve a method, or a param, the document does not describe, or the other
 * way round. Methods marked "x-ktbpf-direction": "daemon-to-vmm" (vm.freeze,
 * vm.thaw) are requests the daemon sends, not serves.
 *
 * Thread safety: no shared state.
 */

#include <jansson.h>
#include <stddef.h>

#include "ktbpf/err.h"
#include "ktbpf/peer.h"

/* The document as built in: a new reference (decref it), NULL on allocation failure. */
json_t *ktbpf_openrpc_doc(void);

/*
 * Check that doc's served methods (all but daemon-to-vmm ones) are exactly
 * methods[0..n), and that each method's params agree: the same names, the
 * same required flags, a schema type that matches the table's type (integer
 * with minimum 0 for KTBPF_PARAM_UINT; a $ref or no type for OBJECT), and an
 * "fds" param exactly when the method takes fds. Returns 0, or -EINVAL with
 * the first difference in err ("vm.status: param 'vm' is required in the
 * document, optional in the table").
 */
int ktbpf_openrpc_check(const json_t *doc, const struct ktbpf_peer_method *methods, size_t n,
			struct ktbpf_err *err);

#endif
