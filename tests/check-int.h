/* Shared by the Check suites. */
#ifndef TETHER_CHECK_INT_H
#define TETHER_CHECK_INT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TTH_CHECK_MAIN(suite_fn)                                               \
	int main(void)                                                         \
	{                                                                      \
		SRunner *sr = srunner_create(suite_fn());                      \
		srunner_run_all(sr, CK_NORMAL);                                \
		int nf = srunner_ntests_failed(sr);                            \
		srunner_free(sr);                                              \
		return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                  \
	}

/* As TTH_CHECK_MAIN for a suite against a real mosquitto: without it the
 * tests cannot mean anything, so they skip (exit 77); CI installs it and
 * never skips. */
#define TTH_CHECK_MAIN_MOSQUITTO(suite_fn)                                     \
	int main(void)                                                         \
	{                                                                      \
		if (access("/usr/sbin/mosquitto", X_OK) != 0 &&                \
		    access("/usr/bin/mosquitto", X_OK) != 0) {                 \
			fprintf(stderr, "mosquitto not installed: skipping\n");\
			return 77;                                             \
		}                                                              \
		SRunner *sr = srunner_create(suite_fn());                      \
		srunner_run_all(sr, CK_NORMAL);                                \
		int nf = srunner_ntests_failed(sr);                            \
		srunner_free(sr);                                              \
		return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                  \
	}

#endif
