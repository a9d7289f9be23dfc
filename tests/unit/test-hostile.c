/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(hostile, placeholder_builds)
{
	cr_assert(1);
}
