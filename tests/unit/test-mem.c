/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(mem, placeholder_builds)
{
	cr_assert(1);
}
