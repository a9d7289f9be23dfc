/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "ktbpf/err.h"

Test(err, set_fills_code_message_and_returns_code)
{
	struct ktbpf_err e;

	cr_assert_eq(ktbpf_err_set(&e, -ENOENT, "symbol '%s' not found", "prog_idr"), -ENOENT);
	cr_assert_eq(e.code, -ENOENT);
	cr_assert_not(e.has_addr);
	cr_assert_str_eq(e.msg, "symbol 'prog_idr' not found");
}

Test(err, set_addr_records_the_faulting_address)
{
	struct ktbpf_err e;

	cr_assert_eq(ktbpf_err_set_addr(&e, -EFAULT, 0x1000, "outside RAM"), -EFAULT);
	cr_assert(e.has_addr);
	cr_assert_eq(e.addr, 0x1000);
}

Test(err, null_err_is_allowed_and_code_is_kept)
{
	cr_assert_eq(ktbpf_err_set(NULL, -EINVAL, "x"), -EINVAL);
	/* The caller's code survives a prefix even without an err struct. */
	cr_assert_eq(ktbpf_err_prefix(NULL, -ENOENT, "ctx: "), -ENOENT);
}

Test(err, prefix_prepends_and_returns_the_given_code)
{
	struct ktbpf_err e;

	ktbpf_err_set_addr(&e, -EFAULT, 0x2000, "not mapped");
	cr_assert_eq(ktbpf_err_prefix(&e, -EFAULT, "prog %d: ", 12), -EFAULT);
	cr_assert_str_eq(e.msg, "prog 12: not mapped");
	cr_assert_eq(e.addr, 0x2000, "the address stays");
}

Test(err, long_prefix_is_truncated_and_terminated)
{
	struct ktbpf_err e;
	char big[400];

	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	ktbpf_err_set(&e, -EIO, "tail");
	ktbpf_err_prefix(&e, -EIO, "%s", big);
	cr_assert_eq(strlen(e.msg), KTBPF_ERR_MSG_MAX - 1);
}

Test(err, clear_resets)
{
	struct ktbpf_err e;

	ktbpf_err_set_addr(&e, -EFAULT, 1, "x");
	ktbpf_err_clear(&e);
	cr_assert_eq(e.code, 0);
	cr_assert_not(e.has_addr);
	cr_assert_str_empty(e.msg);
	ktbpf_err_clear(NULL);
}
