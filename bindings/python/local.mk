# The Python binding: a pure-Python ctypes package over libtether.so
# (bindings/python/README.md). `make install` puts it into the
# interpreter's site-packages for this prefix, with a _install.py that
# names $(libdir), so `import tether` finds the installed library without
# LD_LIBRARY_PATH. `make check` runs its pytest suite against the library
# of the build tree and the harness's real peers.
TETHER_PY_SOURCES = \
	bindings/python/tether/__init__.py \
	bindings/python/tether/_lib.py \
	bindings/python/tether/_yaml.py \
	bindings/python/tether/connection.py \
	bindings/python/tether/enums.py \
	bindings/python/tether/errors.py \
	bindings/python/tether/events.py \
	bindings/python/tether/log.py \
	bindings/python/tether/manager.py \
	bindings/python/tether/stats.py
TETHER_PY_TESTS = \
	bindings/python/tests/conftest.py \
	bindings/python/tests/peers.py \
	bindings/python/tests/test_api.py \
	bindings/python/tests/test_live.py \
	bindings/python/tests/test_queue_reload.py \
	bindings/python/tests/test_bridge.py \
	bindings/python/tests/test_host_loop.py \
	bindings/python/tests/test_mqtt_upstream.py
EXTRA_DIST += $(TETHER_PY_SOURCES) $(TETHER_PY_TESTS) \
	bindings/python/README.md bindings/python/examples/bridge.py \
	bindings/python/run-pytest.sh bindings/python/pytest.ini \
	bindings/python/tether/py.typed bindings/python/pyproject.toml \
	bindings/python/run-pip-install.sh bindings/python/run-mypy.sh

if ENABLE_PYTHON
tetherpydir = $(pythondir)/tether
tetherpy_PYTHON = $(TETHER_PY_SOURCES)
# PEP 561: the package's inline type hints are for its users too
tetherpy_DATA = bindings/python/tether/py.typed
TETHER_PY_INSTALL = yes
TESTS += bindings/python/run-pytest.sh
# pip install from the source tree (no network), and mypy --strict
TESTS += bindings/python/run-pip-install.sh bindings/python/run-mypy.sh
else
TETHER_PY_INSTALL = no
endif

# Where the installed package finds the library (the final $(libdir): a
# DESTDIR staging install still names the real place).
install-data-local:
	@if test "$(TETHER_PY_INSTALL)" = yes; then \
	  $(MKDIR_P) "$(DESTDIR)$(tetherpydir)" && \
	  printf '%s\n' '# Written by make install: where libtether.so is.' \
	    'LIBDIR = "$(libdir)"' > "$(DESTDIR)$(tetherpydir)/_install.py"; \
	fi

uninstall-local:
	@if test "$(TETHER_PY_INSTALL)" = yes; then \
	  rm -f "$(DESTDIR)$(tetherpydir)/_install.py" \
	    "$(DESTDIR)$(tetherpydir)/__pycache__/_install."*.pyc; \
	  rmdir "$(DESTDIR)$(tetherpydir)/__pycache__" 2>/dev/null || :; \
	fi

# What the pytest runner needs to know of this build.
AM_TESTS_ENVIRONMENT = PYTHON='$(PYTHON)'; \
	TETHER_SANITIZERS='$(TETHER_SAN_LDFLAGS)'; \
	CC='$(CC)'; export PYTHON TETHER_SANITIZERS CC;
