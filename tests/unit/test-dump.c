/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(dump, placeholder_builds)
{
	cr_assert(1);
}
