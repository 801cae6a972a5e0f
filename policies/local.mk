# Built against include/ alone: see libtether-plugins.la in core/local.mk.
libtether_plugins_la_SOURCES += \
	policies/builtin.h \
	policies/fixed.c \
	policies/exponential.c \
	policies/adaptive.c \
	policies/breaker.c
