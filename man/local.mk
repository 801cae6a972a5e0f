dist_man_MANS = man/tether.1 man/tether.yaml.5

# The API reference: one section-3 page per public header and one .so page
# per function, written by man/gen-man3.py from the headers' doc comments
# and checked in (so building needs no Python); `make check-man` says
# when they are out of date.
include man/man3/local.mk
dist_man3_MANS = $(TETHER_MAN3_PAGES) $(TETHER_MAN3_LINKS)
EXTRA_DIST += man/gen-man3.py man/man3/local.mk

# Every page lints clean with groff -ww and mandoc -T lint (warnings and
# worse; Debian's groff-base and mandoc), the generated pages are what
# man/gen-man3.py writes today, and every function libtether.so exports
# has a page. CI runs it (scripts/test.sh).
check-man: libtether.la
	@set -e; fail=0; \
	for p in $(dist_man_MANS) $(TETHER_MAN3_PAGES); do \
	  out=`cd $(srcdir)/$$(dirname $$p) && LC_ALL=C.UTF-8 groff -ww -z -man $$(basename $$p) 2>&1`; \
	  if test -n "$$out"; then echo "$$out"; echo "check-man: groff warns on $$p"; fail=1; fi; \
	  mandoc -T lint -W warning $(srcdir)/$$p || { echo "check-man: mandoc warns on $$p"; fail=1; }; \
	done; \
	for p in $(TETHER_MAN3_LINKS); do \
	  t=`sed -n 's|^\.so man3/||p' $(srcdir)/$$p 2>/dev/null` || t=; \
	  test -n "$$t" && test -f "$(srcdir)/man/man3/$$t" || { echo "check-man: $$p does not source a page of man/man3"; fail=1; }; \
	done; \
	for s in `nm -D --defined-only .libs/libtether.so | awk '$$2 == "T" {print $$3}'`; do \
	  test -f "$(srcdir)/man/man3/$$s.3" || { echo "check-man: $$s has no man page"; fail=1; }; \
	done; \
	tmp=`mktemp -d`; \
	py='$(PYTHON)'; $${py:-python3} $(srcdir)/man/gen-man3.py "$$tmp"; \
	if ! diff -r "$$tmp" $(srcdir)/man/man3; then \
	  echo "check-man: man/man3 is out of date: run man/gen-man3.py and commit"; fail=1; \
	fi; \
	rm -rf "$$tmp"; \
	test $$fail = 0 && echo "check-man: $(words $(dist_man_MANS) $(TETHER_MAN3_PAGES)) pages lint clean, $(words $(TETHER_MAN3_LINKS)) function pages, all up to date"
.PHONY: check-man
