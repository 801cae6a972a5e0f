/* Shared by the Check suites. */
#ifndef TETHER_CHECK_INT_H
#define TETHER_CHECK_INT_H

#include <check.h>
#include <stdlib.h>

#define TTH_CHECK_MAIN(suite_fn)                                               \
	int main(void)                                                         \
	{                                                                      \
		SRunner *sr = srunner_create(suite_fn());                      \
		srunner_run_all(sr, CK_NORMAL);                                \
		int nf = srunner_ntests_failed(sr);                            \
		srunner_free(sr);                                              \
		return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                  \
	}

#endif
