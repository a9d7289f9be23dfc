/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(symbols, placeholder_builds)
{
	cr_assert(1);
}
