/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(kernel, placeholder_builds)
{
	cr_assert(1);
}
