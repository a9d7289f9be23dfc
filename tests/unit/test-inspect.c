/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>

Test(inspect, placeholder_builds)
{
	cr_assert(1);
}
