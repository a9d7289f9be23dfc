/* SPDX-License-Identifier: MIT */
/* ktbpfd's method table and rpc/openrpc.json agree: every served method, every param. */
#include <criterion/criterion.h>

#include "daemon-internal.h"
#include "ktbpf/openrpc.h"

Test(daemon, method_table_equals_the_openrpc_document)
{
	struct ktbpf_err err = {0};
	json_t *doc = ktbpf_openrpc_doc();

	cr_assert_not_null(doc);
	cr_assert_eq(ktbpf_openrpc_check(doc, ktbpfd_methods, ktbpfd_nr_methods, &err), 0, "%s",
		     err.msg);
	json_decref(doc);
}
