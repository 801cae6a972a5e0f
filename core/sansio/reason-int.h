/* Reason classification internals shared with the state machine. */
#ifndef TETHER_REASON_INT_H
#define TETHER_REASON_INT_H

#include <tether/tether.h>

/* One row of a classification table: codes lo..hi of kind, in the given
 * direction (-1 both, 0 local, 1 peer), get cls. */
struct tth_class_rule {
	enum tether_reason_kind kind;
	int lo, hi;
	int by_peer;
	enum tether_reason_class cls;
};

/* The built-in table (first matching row wins) and its length. */
extern const struct tth_class_rule tth_default_rules[];
extern const size_t tth_default_rules_len;

/* Whether a and b hold the same rules in the same order (NULL: none). */
int tth_classifier_equal(const tether_classifier *a, const tether_classifier *b);
/* A copy of c's rules (an empty classifier for NULL); NULL: out of memory. */
tether_classifier *tth_classifier_dup(const tether_classifier *c);

#endif
