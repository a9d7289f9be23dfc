/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(progs, placeholder_builds)
{
	cr_assert(1);
}
