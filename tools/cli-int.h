/* The tether command-line tool: shared declarations. */
#ifndef TETHER_CLI_INT_H
#define TETHER_CLI_INT_H

#include <stdint.h>
#include <stdio.h>

/* Exit statuses (also in tether(1)). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* the job ran and failed */
#define CLI_EXIT_USAGE 2 /* bad command line or configuration */

int cli_simulate(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_run(int argc, char **argv);

/* tether run --metrics (metrics_http.c): serve m's metrics over HTTP on
 * text ("[ADDR:]PORT"; a non-loopback ADDR only with any), from a thread
 * of its own. Prints why not and returns CLI_EXIT_USAGE or CLI_EXIT_FAIL;
 * CLI_EXIT_OK and *out to stop with cli_metrics_stop() (NULL: no-op). */
struct cli_metrics;
struct tether_mgr;
int cli_metrics_start(struct cli_metrics **out, struct tether_mgr *m,
		      const char *text, int any);
void cli_metrics_stop(struct cli_metrics *ms);

/* Write s (NULL: "") to f as one line of text: control characters as
 * \n, \r, \t or \xNN, C1 controls as \uNNNN, bytes that are not UTF-8
 * as \xNN (escape.c). For strings a peer may have chosen. */
void cli_text_str(FILE *f, const char *s);

/* Write s (NULL: "") to f as a JSON string: quoted, escaped, and bytes
 * that are not UTF-8 replaced with \ufffd, so the line is valid JSON. */
void cli_json_str(FILE *f, const char *s);

/* Parse a duration ("250ms", "30s", "5m") for option opt; prints an error
 * naming opt and returns -1 on failure. */
int cli_duration(const char *opt, const char *text, uint64_t *out_ms);

/* Print each line of a multi-line message to stderr as "tether: line". */
void cli_errors(const char *lines);

#endif
